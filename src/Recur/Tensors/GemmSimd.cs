using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recur.Tensors;

/// <summary>Instruction set for <see cref="GemmSimd"/>; tests force each one, production uses <see cref="Auto"/>.</summary>
internal enum GemmIsa
{
    /// <summary>The widest supported below: AVX-512, else AVX2+FMA, else portable.</summary>
    Auto,
    Avx512,
    Avx2,
    Portable,
}

/// <summary>
/// The float32 matrix product used in production: packed, cache-blocked, SIMD, multi-threaded and deterministic.
/// </summary>
/// <remarks>
/// Dimension letters: M rows of C, N columns of C, K the summed dimension. Blocking, outermost first:
/// N in blocks of <see cref="NC"/> columns, K in blocks of <see cref="KC"/> (op(B)[KC, NC] is packed into column
/// panels of NR = 2 vectors, contiguous over K), M in row blocks of at most <see cref="MC"/> (op(A)[MC, KC] is
/// packed into row panels of MR rows, <see cref="IFloatVector{TSelf}.MicroRows"/>); then one micro-kernel computes
/// an [MR, NR] tile of C in registers. Transposes are resolved entirely while packing, and edge panels are
/// zero-padded, so the micro-kernel has a single code path (and a four-row form for a last row panel of at most
/// four rows, which writes its rows straight to C). Five partitions of the work, chosen by shape only
/// (a narrow C, 2 ≤ N ≤ NR/2 with M ≥ 2·NR, is first turned into its transpose, which takes one of them):
/// M = 1 (streaming): no packing, op(B) read once, items are column chunks;
/// M ≤ MC (per-step recurrent products): items are column chunks that pack their own panels, one parallel phase;
/// at least two row blocks per thread, N ≤ 512: each thread owns fixed row blocks and packs op(B) itself, one phase;
/// at least two row blocks per thread, N &gt; 512: op(B) packed once per pass of K blocks, items are tiles of C
/// claimed one at a time, each over the pass's K blocks, two phases per pass;
/// otherwise: one shared packed op(B) block per (N, K) block, items are row blocks of C (multiples of MR;
/// columns are split too only when M has fewer row panels than threads), two phases per K block.
/// Tile boundaries and the K order never depend on the thread count and each element of C is computed by one
/// thread, so C is bit-identical for any <see cref="Engine.Threads"/>.
/// </remarks>
public static class GemmSimd
{
    /// <summary>Depth of one packed block (op(A) and op(B) columns/rows summed per pass over C).</summary>
    internal const int KC = 256;

    /// <summary>Largest row block whose packed op(A) a thread keeps in its L2 cache; a multiple of every MR.</summary>
    internal const int MC = 96;

    /// <summary>Columns of op(B) packed at once ([KC, NC] floats, 4 MiB); a multiple of every NR.</summary>
    internal const int NC = 4096;

    /// <summary>
    /// Below this many flops per K block (2·M·N·min(K, KC)) the shared-panel partition, which forks twice per K
    /// block, runs on one thread: about 80 µs of one core's work, several times a fork and join. The single-phase
    /// partitions have their own, lower threshold (<see cref="SinglePhaseParallelFlops"/>).
    /// </summary>
    internal const double ParallelFlops = 16e6;

    /// <summary>
    /// Below this many flops (2·M·N·K) a product whose partition is a single parallel phase (one fork and join for
    /// the whole call: the single-row, few-rows, own-row-blocks and packed partitions) runs on one thread: about
    /// 20 µs of one core's work, where a fork and join to spinning workers costs one or two. Config a's dW_hh
    /// ([256, 1600]·[1600, 64], 52 MFLOP over seven K blocks) ran on one thread under the per-K-block threshold
    /// although its partition forks once; on two it takes 345 → 228 µs.
    /// </summary>
    internal const double SinglePhaseParallelFlops = 4e6;

    /// <summary>
    /// Shallowest product split over threads: below it the product is bound by writing C (2·K flops per element), and
    /// two threads took longer than one here ([1600, 8]·[8, 256]: 65 → 113 µs; K = 16: 90 → 103 µs; K = 32 gained).
    /// </summary>
    internal const int MinParallelDepth = 32;

    /// <summary>
    /// Fewest packed floats (1 MiB) whose one-off packing (<see cref="PackB(bool, int, int, ReadOnlySpan{float}, int)"/>,
    /// W_hh before a layer's time loop) is split over the threads by panels; config d packs 16 MiB per pass.
    /// </summary>
    internal const long ParallelPackFloats = 1 << 18;

    /// <summary>
    /// C = op(A)·op(B) (+ C when <paramref name="accumulate"/>), row-major with leading dimensions:
    /// op(A) is [M, K] (A stored [M, K], lda ≥ K; or [K, M], lda ≥ M when <paramref name="transposeA"/>),
    /// op(B) is [K, N] (B stored [K, N], ldb ≥ N; or [N, K], ldb ≥ K when <paramref name="transposeB"/>),
    /// C is [M, N] (ldc ≥ N); only the M×N region of C is written. K = 0 writes zeros unless accumulating.
    /// </summary>
    public static void Multiply(
        bool transposeA, bool transposeB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        Span<float> c, int ldc, bool accumulate)
        => Multiply(GemmIsa.Auto, transposeA, transposeB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);

    /// <summary>
    /// Packs op(B) [K, N] once (B stored [K, N], or [N, K] when <paramref name="transposeB"/>) into the
    /// micro-kernel's column-panel format for every K block, so a product repeated with the same B (the recurrent
    /// weights at every time step) reads it packed and resident instead of packing it per call. Allocates the
    /// packed copy (pinned, from the workspace pool; <see cref="PackedMatrix.Release"/> gives it back); <see cref="MultiplyPacked"/> computes the same bits as <see cref="Multiply(bool, bool, int, int, int, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, Span{float}, int, bool)"/>.
    /// </summary>
    public static PackedMatrix PackB(bool transposeB, int k, int n, ReadOnlySpan<float> b, int ldb)
        => PackB(GemmIsa.Auto, transposeB, k, n, b, ldb);

    internal static unsafe PackedMatrix PackB(GemmIsa isa, bool transposeB, int k, int n, ReadOnlySpan<float> b, int ldb)
    {
        Gemm.CheckArguments(false, transposeB, 1, n, k, k, k, b.Length, ldb, n, n);
        if (!IsSupported(isa))
            throw new PlatformNotSupportedException($"GEMM instruction set {isa} is not supported by this CPU; use {GemmIsa.Auto}.");
        if (isa == GemmIsa.Auto) isa = AutoIsa();
        int nr = 2 * (isa switch { GemmIsa.Avx512 => Float512.Count, GemmIsa.Avx2 => Float256.Count, _ => FloatPortable.Count });
        var packed = new PackedMatrix(isa, k, n, nr);
        if (k == 0 || n == 0) return packed;
        fixed (float* pb = b)
        {
            var operands = new GemmOperands(false, transposeB, 1, n, k, null, k, pb, ldb, null, n, false);
            switch (isa)
            {
                case GemmIsa.Avx512: GemmDriver<Float512>.PackAll(operands, packed.Pointer); break;
                case GemmIsa.Avx2: GemmDriver<Float256>.PackAll(operands, packed.Pointer); break;
                default: GemmDriver<FloatPortable>.PackAll(operands, packed.Pointer); break;
            }
        }
        return packed;
    }

    /// <summary>
    /// C = A·B̃ (+ C when <paramref name="accumulate"/>) with B̃ packed by <see cref="PackB(bool, int, int, ReadOnlySpan{float}, int)"/>:
    /// A [M, K] row-major (lda ≥ K), C [M, N] (ldc ≥ N). Work items are fixed column ranges of whole panels, one
    /// per thread (the partition does not change any element's summation order, so C is bit-identical to
    /// <see cref="Multiply(bool, bool, int, int, int, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, Span{float}, int, bool)"/>
    /// at any thread count). Allocates nothing in steady state.
    /// </summary>
    public static unsafe void MultiplyPacked(int m, ReadOnlySpan<float> a, int lda, PackedMatrix b, Span<float> c, int ldc, bool accumulate)
    {
        Gemm.CheckArguments(false, false, m, b.N, b.K, a.Length, lda, b.K * b.N, b.N, c.Length, ldc);
        if (m == 0 || b.N == 0) return;
        if (b.K == 0)
        {
            if (!accumulate) for (int i = 0; i < m; i++) c.Slice(i * ldc, b.N).Clear();
            return;
        }
        fixed (float* pa = a, pc = c)
        {
            var operands = new GemmOperands(false, false, m, b.N, b.K, pa, lda, null, b.N, pc, ldc, accumulate);
            switch (b.Isa)
            {
                case GemmIsa.Avx512: GemmDriver<Float512>.RunPacked(operands, b.Pointer); break;
                case GemmIsa.Avx2: GemmDriver<Float256>.RunPacked(operands, b.Pointer); break;
                default: GemmDriver<FloatPortable>.RunPacked(operands, b.Pointer); break;
            }
        }
    }

    /// <summary>The instruction set <see cref="GemmIsa.Auto"/> stands for on this CPU.</summary>
    internal static GemmIsa AutoIsa() => Float512.IsSupported ? GemmIsa.Avx512 : Float256.IsSupported ? GemmIsa.Avx2 : GemmIsa.Portable;

    /// <summary>Whether this CPU can run <paramref name="isa"/>.</summary>
    internal static bool IsSupported(GemmIsa isa) => isa switch
    {
        GemmIsa.Auto or GemmIsa.Portable => true,
        GemmIsa.Avx512 => Float512.IsSupported,
        GemmIsa.Avx2 => Float256.IsSupported,
        _ => false,
    };

    /// <summary>
    /// As the public overload, on the instruction set <paramref name="isa"/> (which must be supported); with
    /// <paramref name="rowSums"/> (M values) also writes rowSums[i] = Σ_k op(A)[i, k], summed from zero in k order,
    /// from the same pass that packs op(A) where the partition allows (see <see cref="Gemm.MultiplySummingRows{T}"/>).
    /// </summary>
    internal static unsafe void Multiply(
        GemmIsa isa, bool transposeA, bool transposeB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        Span<float> c, int ldc, bool accumulate, Span<float> rowSums = default)
    {
        Gemm.CheckArguments(transposeA, transposeB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (!IsSupported(isa))
            throw new PlatformNotSupportedException($"GEMM instruction set {isa} is not supported by this CPU; use {GemmIsa.Auto}.");
        bool sumRows = !rowSums.IsEmpty;
        if (sumRows)
        {
            if (rowSums.Length != m) throw new ArgumentException($"GEMM row sums must hold M = {m} values; found {rowSums.Length}.", nameof(rowSums));
            rowSums.Clear();
        }
        if (m == 0) return;
        if (n == 0 || k == 0)
        {
            if (k == 0 && !accumulate)
            {
                for (int i = 0; i < m; i++) c.Slice(i * ldc, n).Clear();
            }
            if (sumRows) SumRows(transposeA, m, k, a, lda, rowSums);
            return;
        }
        if (isa == GemmIsa.Auto) isa = AutoIsa();

        bool summed;
        fixed (float* pa = a, pb = b, pc = c, sums = rowSums)
        {
            var operands = new GemmOperands(transposeA, transposeB, m, n, k, pa, lda, pb, ldb, pc, ldc, accumulate);
            float* into = sumRows ? sums : null;
            summed = isa switch
            {
                GemmIsa.Avx512 => GemmDriver<Float512>.Run(operands, into),
                GemmIsa.Avx2 => GemmDriver<Float256>.Run(operands, into),
                _ => GemmDriver<FloatPortable>.Run(operands, into),
            };
        }
        if (sumRows && !summed) SumRows(transposeA, m, k, a, lda, rowSums);
    }

    /// <summary>sums[i] += Σ_k op(A)[i, k] in k order (the partitions that do not sum while packing).</summary>
    private static void SumRows(bool transposeA, int m, int k, ReadOnlySpan<float> a, int lda, Span<float> sums)
    {
        if (transposeA)
        {
            // op(A)[i, p] = A[p, i]: whole rows of A added in order, each sum still in k order.
            for (int p = 0; p < k; p++) TensorPrimitives.Add(sums[..m], a.Slice(p * lda, m), sums[..m]);
            return;
        }
        for (int i = 0; i < m; i++)
        {
            float sum = sums[i];
            foreach (float value in a.Slice(i * lda, k)) sum += value;
            sums[i] = sum;
        }
    }
}

/// <summary>
/// op(B) [K, N] in <see cref="GemmSimd"/>'s packed panel format: K blocks of <see cref="GemmSimd.KC"/> rows, each
/// ⌈N/NR⌉ panels [kc, NR] (zero past column N), block p at offset p·KC·Npad. Made by <see cref="GemmSimd.PackB(bool, int, int, ReadOnlySpan{float}, int)"/>.
/// </summary>
public sealed unsafe class PackedMatrix
{
    private readonly float[] _array;

    internal PackedMatrix(GemmIsa isa, int k, int n, int nr)
    {
        (Isa, K, N, Nr) = (isa, k, n, nr);
        Panels = (n + nr - 1) / nr;
        Length = Math.Max(1, k * Panels * nr);
        _array = Workspace.AllocatePinnedUninitialized<float>(Length + 16);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
        Pointer = (float*)((address + 63) & ~(nint)63);
    }

    private bool _released;

    /// <summary>
    /// Returns the packed storage to the <see cref="Workspace"/> pool (a recurrent layer packs W_hh once per pass);
    /// the matrix must not be used afterwards. A second call does nothing.
    /// </summary>
    internal void Release()
    {
        if (_released) return;
        _released = true;
        Workspace.ReleasePinned(_array);
    }

    internal GemmIsa Isa { get; }
    public int K { get; }
    public int N { get; }
    internal int Nr { get; }
    internal int Panels { get; }

    /// <summary>Packed floats held (for workspace accounting).</summary>
    public int Length { get; }
    internal float* Pointer { get; }
}

/// <summary>One product's arguments, as raw pointers so worker threads can share them.</summary>
internal readonly unsafe struct GemmOperands(
    bool transposeA, bool transposeB, int m, int n, int k,
    float* a, int lda, float* b, int ldb, float* c, int ldc, bool accumulate)
{
    public readonly bool TransposeA = transposeA, TransposeB = transposeB;
    public readonly int M = m, N = n, K = k;
    public readonly float* A = a, B = b, C = c;
    public readonly int Lda = lda, Ldb = ldb, Ldc = ldc;
    public readonly bool Accumulate = accumulate;
}

/// <summary>
/// A pinned, 64-byte-aligned float buffer that grows on demand and is then reused (no allocation in steady
/// state). Contents are undefined after growth; packing overwrites everything it later reads.
/// </summary>
internal sealed unsafe class PackingBuffer
{
    private float[]? _array;
    private float* _aligned;
    private int _capacity;

    public float* Get(int length)
    {
        if (length > _capacity)
        {
            _array = GC.AllocateUninitializedArray<float>(length + 16, pinned: true);
            nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
            _aligned = (float*)((address + 63) & ~(nint)63);
            _capacity = length;
        }
        return _aligned;
    }
}

/// <summary>
/// The blocked product for one vector type <typeparamref name="TV"/>; NR = 2·<c>TV.Count</c> columns per panel.
/// One instance per calling thread holds the packed op(B) block and the work partition of the current call.
/// </summary>
internal sealed unsafe class GemmDriver<TV> where TV : struct, IFloatVector<TV>
{
    private const int KC = GemmSimd.KC, MC = GemmSimd.MC, NC = GemmSimd.NC;

    /// <summary>Steps of the AVX2 micro-kernel per line of the next B panel it prefetches (see <see cref="MicroKernel"/>).</summary>
    private const int PrefetchEvery = 4;

    /// <summary>
    /// Steps of the AVX-512 micro-kernel per line of the next B panel it prefetches: a step reads two lines of B, so
    /// one line every two steps covers the same slice as the AVX2 kernel's one in four.
    /// </summary>
    private const int PrefetchEvery512 = 2;

    private static int MR => TV.MicroRows;

    private static int NR => 2 * TV.Count;

    [ThreadStatic] private static GemmDriver<TV>? t_driver;
    [ThreadStatic] private static PackingBuffer? t_packedA;
    [ThreadStatic] private static PackingBuffer? t_packedB;
    [ThreadStatic] private static PackingBuffer? t_narrowC;

    private readonly PackingBuffer _packedB = new();
    private readonly Action<int> _packBody, _shareBody, _compute, _computeFewRows, _computeRow, _computePacked, _computeTile, _ownRowBlocks, _packPanelsBody,
        _computeNarrowColumns;
    private Action<int> _itemWork;

    // The current call and block; written by the calling thread before each parallel phase.
    private GemmOperands _o;
    private int _threads;
    private int _rowPanels, _panelsPerBlock, _colChunks, _chunkPanels, _items, _nextItem;
    private int _jc, _nc, _bPanels, _pc, _kc;
    private bool _addToC;
    private float* _packedBBlock;
    // The tile partition's K blocks per pass, and the panels being packed by PackPanels.
    private int _passDepth;
    private float* _packDst;
    private int _packFirstColumn, _packPanels, _packKStart, _packKEnd, _packParts;
    // Row sums of op(A) requested by the current call (null: none), and whether the partition taking it summed them
    // while packing op(A).
    private float* _rowSums;
    private bool _rowsSummed;

    private GemmDriver()
    {
        // Delegates made once, so a call allocates nothing.
        _packBody = PackBShare;
        _shareBody = ShareItems;
        _compute = Compute;
        _computeFewRows = ComputeFewRows;
        _computeRow = ComputeRow;
        _computePacked = ComputePacked;
        _computeTile = ComputeTile;
        _ownRowBlocks = OwnRowBlocks;
        _packPanelsBody = PackPanelsShare;
        _computeNarrowColumns = ComputeNarrowColumns;
        _itemWork = _compute;
    }

    /// <summary>
    /// Computes the product; with <paramref name="rowSums"/> (zeroed, M values) also adds Σ_k op(A)[i, k] into
    /// rowSums[i], in k order, as it packs op(A), where the partition packs each row of op(A) once per K block;
    /// returns whether it did (otherwise the caller sums them).
    /// </summary>
    public static bool Run(in GemmOperands operands, float* rowSums = null)
    {
        var driver = t_driver ??= new GemmDriver<TV>();
        driver._rowSums = rowSums;
        driver._rowsSummed = false;
        try
        {
            driver.Execute(operands);
            return driver._rowsSummed;
        }
        finally
        {
            driver._rowSums = null;
        }
    }

    private void Execute(in GemmOperands o)
    {
        _o = o;
        double flops = 2.0 * o.M * o.N * o.K;
        int available = o.K < GemmSimd.MinParallelDepth ? 1 : Engine.AvailableThreads;
        _threads = flops >= GemmSimd.SinglePhaseParallelFlops ? available : 1;
        if (o.M == 1)
        {
            ExecuteRow();
            return;
        }
        if (o.TransposeA && !o.TransposeB && o.N <= GemmNarrowColumns.MaxColumns && o.M >= GemmNarrowColumns.BlockRows
            && typeof(TV) != typeof(FloatPortable) && GemmNarrowColumns.IsSupported)
        {
            RunItems(NarrowColumnParts, _computeNarrowColumns);
            return;
        }
        if (o.N >= 2 && o.N <= NR / 2 && o.M >= 2 * NR)
        {
            ExecuteNarrow(o);
            return;
        }
        if (o.M <= MC)
        {
            ExecuteFewRows();
            return;
        }
        // Row blocks: about four per thread for balance, each at most MC rows; one block per panel when there
        // are fewer panels than threads, and then columns are split as well.
        _rowPanels = (o.M + MR - 1) / MR;
        int targetBlocks = available == 1 ? 1 : 4 * available;
        _panelsPerBlock = Math.Clamp((_rowPanels + targetBlocks - 1) / targetBlocks, 1, MC / MR);
        int rowBlocks = (_rowPanels + _panelsPerBlock - 1) / _panelsPerBlock;
        if (_threads > 1 && rowBlocks >= 2 * _threads)
        {
            if (o.N > OwnRowBlockColumns)
            {
                ExecuteTiles();
                return;
            }
            _rowsSummed = _rowSums != null;
            Engine.Run(_threads, _ownRowBlocks);
            return;
        }
        // The shared-panel partition forks twice per K block.
        _packedBBlock = _packedB.Get(KC * RoundUp(Math.Min(o.N, NC), NR));
        _threads = 2.0 * o.M * o.N * Math.Min(o.K, KC) >= GemmSimd.ParallelFlops ? available : 1;
        _rowsSummed = _rowSums != null;

        for (_jc = 0; _jc < o.N; _jc += NC)
        {
            _nc = Math.Min(NC, o.N - _jc);
            _bPanels = (_nc + NR - 1) / NR;
            _colChunks = rowBlocks >= _threads ? 1 : Math.Min(_bPanels, (_threads + rowBlocks - 1) / rowBlocks);
            _chunkPanels = (_bPanels + _colChunks - 1) / _colChunks;
            _colChunks = (_bPanels + _chunkPanels - 1) / _chunkPanels;
            int items = rowBlocks * _colChunks;

            for (_pc = 0; _pc < o.K; _pc += KC)
            {
                _kc = Math.Min(KC, o.K - _pc);
                _addToC = o.Accumulate || _pc > 0;
                if (_threads == 1) PackB(_packedBBlock, _jc, _bPanels, _pc, _kc);
                else Engine.Run(_threads, _packBody);
                RunItems(items, _compute);
            }
        }
    }

    /// <summary>Most columns of C in one tile of the tile partition: a [MC, 1024] tile (384 KiB) stays in L2 over K.</summary>
    private const int TileColumns = 1024;

    /// <summary>Fewest tiles per thread the tile partition aims for, so that the join waits for at most a small share.</summary>
    private const int TilesPerThread = 8;

    /// <summary>
    /// Most floats of op(B) the tile partition packs at once (16 MiB: config d's W_ih, [1024, 4096], in one pass);
    /// a deeper op(B) is packed and run in passes of whole K blocks, so a weight gradient over a long sequence
    /// (K = T·B) does not pack all of it.
    /// </summary>
    private const int TilePackFloats = 1 << 22;

    /// <summary>
    /// A product with many rows and more than <see cref="OwnRowBlockColumns"/> columns on several threads. Per block
    /// of NC columns and per pass of K blocks (at most <see cref="TilePackFloats"/> packed), op(B) is packed once
    /// (split over the threads by panels), then tiles of C are claimed one at a time, each computed over the pass's
    /// K blocks (packing its rows of op(A) per K block), so its piece of C stays in L2 instead of going back to
    /// memory at every K block. Tiles are at most <see cref="TileColumns"/> wide and at most half the block: N = 1024
    /// as two 512-wide chunks beat one 1024-wide chunk (d's dW 7% faster, [6400, 256]·[256, 1024] 6%), though each
    /// chunk packs op(A) again. They narrow to 128 columns, then shorten to a quarter of MC rows, until there are
    /// <see cref="TilesPerThread"/> per thread. Each element of C is the same chain over the same K blocks as in the
    /// other partitions, the passes in K order.
    /// </summary>
    private void ExecuteTiles()
    {
        int maxPanels = (Math.Min(_o.N, NC) + NR - 1) / NR;
        _passDepth = Math.Max(KC, TilePackFloats / (maxPanels * NR) / KC * KC);
        int length = Math.Min(_o.K, _passDepth) * maxPanels * NR;
        var storage = Workspace.AllocatePinnedUninitialized<float>(length + 16);
        Workspace.Count<float>(length);
        try
        {
            fixed (float* start = storage)
            {
                _packedBBlock = (float*)(((nint)start + 63) & ~(nint)63);
                _rowsSummed = _rowSums != null;
                for (_jc = 0; _jc < _o.N; _jc += NC)
                {
                    _bPanels = (Math.Min(NC, _o.N - _jc) + NR - 1) / NR;
                    ChooseTiles();
                    for (_pc = 0; _pc < _o.K; _pc += _passDepth)
                    {
                        PackPanels(_packedBBlock, _jc, _bPanels, _pc, _passDepth, _threads);
                        RunItems(Tiles(), _computeTile);
                    }
                }
            }
        }
        finally
        {
            Workspace.Count<float>(-length);
            Workspace.ReleasePinned(storage);
        }
    }

    /// <summary>Tile height (<see cref="_panelsPerBlock"/>) and width (<see cref="_chunkPanels"/>) for the current block of columns.</summary>
    private void ChooseTiles()
    {
        _panelsPerBlock = MC / MR;
        _chunkPanels = Math.Min((_bPanels + 1) / 2, TileColumns / NR);
        int target = TilesPerThread * _threads;
        while (Tiles() < target && _chunkPanels * NR > 128) _chunkPanels = (_chunkPanels + 1) / 2;
        while (Tiles() < target && _panelsPerBlock * 4 > MC / MR) _panelsPerBlock /= 2;
        _colChunks = (_bPanels + _chunkPanels - 1) / _chunkPanels;
    }

    /// <summary>Tiles of C for the current tile height and width.</summary>
    private int Tiles() => (_rowPanels + _panelsPerBlock - 1) / _panelsPerBlock * ((_bPanels + _chunkPanels - 1) / _chunkPanels);

    /// <summary>
    /// Tile <paramref name="item"/> (row block item / chunks, column chunk item % chunks) over the pass's K blocks,
    /// against the pass's packed op(B); in the first block of columns, the tiles of column chunk 0 also sum their
    /// rows of op(A).
    /// </summary>
    private void ComputeTile(int item)
    {
        int rowBlock = item / _colChunks, chunk = item % _colChunks;
        int firstPanel = rowBlock * _panelsPerBlock;
        int i0 = firstPanel * MR, rows = Math.Min(Math.Min(_panelsPerBlock, _rowPanels - firstPanel) * MR, _o.M - i0);
        int b0 = chunk * _chunkPanels, bPanels = Math.Min(_chunkPanels, _bPanels - b0);
        float* packedA = (t_packedA ??= new PackingBuffer()).Get(MC * KC);
        float* rowSums = _jc == 0 && chunk == 0 ? _rowSums : null;
        for (int pc = _pc; pc < Math.Min(_o.K, _pc + _passDepth); pc += KC)
        {
            int kc = Math.Min(KC, _o.K - pc);
            PackA(packedA, i0, rows, pc, kc, rowSums);
            ComputeBlock(packedA, i0, rows, PanelsAt(_packedBBlock, pc - _pc, _bPanels, b0, kc), _jc + b0 * NR, bPanels, kc, _o.Accumulate || pc > 0);
        }
    }

    /// <summary>
    /// Widest C computed by the own-row-blocks partition (<see cref="OwnRowBlocks"/>) on several threads; wider ones
    /// take the tile partition (<see cref="ExecuteTiles"/>). Up to here a thread's packed op(B) block [KC, N] and its
    /// row block of C [MC, N] stay in its L2 cache over its row blocks and K blocks; beyond, the row blocks of C
    /// went back to memory at every K block, and tiles that keep C in L2 over all of K were 10–23% faster at two
    /// threads (d's dW [4096, 3200]·[3200, 1024]: 89 → 77 ms; [2048]³: 56 → 46 ms), while b's dW_hh
    /// ([1024, 6400]·[6400, 256]) was 10% slower as tiles.
    /// </summary>
    private const int OwnRowBlockColumns = 512;

    /// <summary>
    /// Worker <paramref name="t"/> of a product with enough row blocks for every thread and at most
    /// <see cref="OwnRowBlockColumns"/> columns: it owns the row panels [t·R/P, (t+1)·R/P) and runs all (N, K) blocks over them
    /// with op(B) packed into its own buffer, so the product is one parallel phase with no shared packed block (each
    /// thread reads only panels it wrote, from its own caches); op(B) is packed once per thread instead of once, a
    /// few percent of the flops.
    /// </summary>
    private void OwnRowBlocks(int t)
    {
        float* packedB = (t_packedB ??= new PackingBuffer()).Get(KC * RoundUp(Math.Min(_o.N, NC), NR));
        float* packedA = (t_packedA ??= new PackingBuffer()).Get(MC * KC);
        // Thread t owns an equal share of the row panels, [t·R/P, (t+1)·R/P), in equal blocks of at most _panelsPerBlock.
        // Blocks dealt out in turn gave b's dW_hh ([1024, 6400]·[6400, 256]) one thread 544 rows and the other 480, and
        // interleaved the two threads' columns of its transposed A: 12.9 ms at two threads, 10.2 ms this way (the dx
        // product [6400, 1024]·[1024, 256] 10.2 → 8.7 ms). Which thread computes a row does not change its bits.
        int first = (int)((long)t * _rowPanels / _threads), panels = (int)((long)(t + 1) * _rowPanels / _threads) - first;
        int blocks = (panels + _panelsPerBlock - 1) / _panelsPerBlock;
        for (int jc = 0; jc < _o.N; jc += NC)
        {
            int bPanels = (Math.Min(NC, _o.N - jc) + NR - 1) / NR;
            for (int pc = 0; pc < _o.K; pc += KC)
            {
                int kc = Math.Min(KC, _o.K - pc);
                PackB(packedB, jc, bPanels, pc, kc);
                for (int block = 0; block < blocks; block++)
                {
                    int firstPanel = first + block * panels / blocks, blockPanels = first + (block + 1) * panels / blocks - firstPanel;
                    int i0 = firstPanel * MR, rows = Math.Min(blockPanels * MR, _o.M - i0);
                    PackA(packedA, i0, rows, pc, kc, jc == 0 ? _rowSums : null);
                    ComputeBlock(packedA, i0, rows, packedB, jc, bPanels, kc, _o.Accumulate || pc > 0);
                }
            }
        }
    }

    /// <summary>Packs all of op(B) into <paramref name="dst"/> (layout of <see cref="PackedMatrix"/>).</summary>
    public static void PackAll(in GemmOperands operands, float* dst)
    {
        var driver = t_driver ??= new GemmDriver<TV>();
        driver._o = operands;
        driver.PackPanels(dst, 0, (operands.N + NR - 1) / NR, 0, operands.K, Engine.AvailableThreads);
    }

    /// <summary>
    /// Packs op(B)[kStart : kStart + depth, firstColumn : firstColumn + NR·panels] into <paramref name="dst"/> K block
    /// by K block (block p at dst + (p − kStart)·panels·NR, panel q within it at q·kc·NR, the layout of
    /// <see cref="PackedMatrix"/>), split over up to <paramref name="maxParts"/> threads by panels when large.
    /// </summary>
    private void PackPanels(float* dst, int firstColumn, int panels, int kStart, int depth, int maxParts)
    {
        _packDst = dst;
        (_packFirstColumn, _packPanels, _packKStart, _packKEnd) = (firstColumn, panels, kStart, Math.Min(_o.K, kStart + depth));
        long floats = (long)(_packKEnd - kStart) * panels * NR;
        _packParts = floats >= GemmSimd.ParallelPackFloats ? Math.Min(maxParts, panels) : 1;
        Engine.Run(_packParts, _packPanelsBody);
    }

    /// <summary>
    /// Panel <paramref name="panel"/> of the K block that starts <paramref name="kOffset"/> rows into packed panels
    /// laid out as <see cref="PackedMatrix"/> (<paramref name="panels"/> per K block, each [kc, NR]).
    /// </summary>
    private static float* PanelsAt(float* packed, int kOffset, int panels, int panel, int kc) =>
        packed + (nint)kOffset * panels * NR + (nint)panel * kc * NR;

    /// <summary>Part <paramref name="part"/> of <see cref="PackPanels"/>: a fixed range of the panels, in each K block.</summary>
    private void PackPanelsShare(int part)
    {
        int per = (_packPanels + _packParts - 1) / _packParts;
        int first = Math.Min(_packPanels, part * per), count = Math.Min(_packPanels - first, per);
        for (int pc = _packKStart; pc < _packKEnd; pc += KC)
        {
            int kc = Math.Min(KC, _o.K - pc);
            PackB(PanelsAt(_packDst, pc - _packKStart, _packPanels, first, kc), _packFirstColumn + first * NR, count, pc, kc);
        }
    }

    /// <summary>C (+)= A·B̃ with B̃ packed by <see cref="PackAll"/>: items are fixed column ranges, one per thread.</summary>
    public static void RunPacked(in GemmOperands operands, float* packed)
    {
        var driver = t_driver ??= new GemmDriver<TV>();
        driver._o = operands;
        driver._packedBBlock = packed;
        double flops = 2.0 * operands.M * operands.N * operands.K;
        int panels = (operands.N + NR - 1) / NR;
        driver._threads = flops >= GemmSimd.SinglePhaseParallelFlops ? Math.Min(Engine.AvailableThreads, panels) : 1;
        driver._bPanels = panels;
        driver._chunkPanels = (panels + driver._threads - 1) / driver._threads;
        driver.RunItems((panels + driver._chunkPanels - 1) / driver._chunkPanels, driver._computePacked);
    }

    /// <summary>
    /// Most rows of A packed as one block by <see cref="ComputePacked"/> (192 rows: 192 KiB a K block, in L2), so a
    /// per-step product of up to that many rows reads each packed B panel once per step; in blocks of MC rows, a batch
    /// of 128 read the whole of W_hh twice a step (config d's 16 MiB).
    /// </summary>
    private const int PackedSingleBlockRows = 192;

    /// <summary>
    /// Most B panels (NR columns each) of a packed product's item for which AVX2 reads A in place rather than packing
    /// it. Packing A costs the same for any N, so it weighs most where N is small: the backward pass's per-step
    /// dh_{t−1} = dGates·W_hh ([16, 256]·[256, 64], 4 panels) took 1.17× as long packed, [16, 128]·[128, 32] 1.37×,
    /// [32, 1024]·[1024, 256] (16 panels) 1.03×, [16, 64]·[64, 256] 0.97–1.04×; with 64–128 panels the in-place
    /// kernel was up to 5% slower (one thread, in place and packed alternating in one process).
    /// </summary>
    private const int InPlaceMostPanels = 16;

    private void ComputePacked(int item)
    {
        int firstPanel = item * _chunkPanels, bPanels = Math.Min(_chunkPanels, _bPanels - firstPanel);
        int rowsPadded = RoundUp(_o.M, MR);
        int blockRows = rowsPadded <= PackedSingleBlockRows ? rowsPadded : MC;
        // AVX2 reads A's rows where they are (see MicroKernel6Avx2InPlace) when they are one block and the item has
        // few B panels to spread the packing over.
        bool inPlace = typeof(TV) == typeof(Float256) && !_o.TransposeA && blockRows == rowsPadded && bPanels <= InPlaceMostPanels;
        float* packedA = inPlace ? null : (t_packedA ??= new PackingBuffer()).Get(Math.Min(rowsPadded, blockRows) * KC);
        for (int pc = 0; pc < _o.K; pc += KC)
        {
            int kc = Math.Min(KC, _o.K - pc);
            float* block = PanelsAt(_packedBBlock, pc, _bPanels, firstPanel, kc);
            for (int i0 = 0; i0 < _o.M; i0 += blockRows)
            {
                int rows = Math.Min(blockRows, _o.M - i0);
                if (!inPlace) PackA(packedA, i0, rows, pc, kc);
                ComputeBlock(packedA, i0, rows, block, firstPanel * NR, bPanels, kc, _o.Accumulate || pc > 0, inPlace ? _o.A + (nint)i0 * _o.Lda + pc : null);
            }
        }
    }

    /// <summary>
    /// C with at most NR/2 columns and many rows (a head with few outputs; against transposed A, as a weight gradient
    /// against a few input features, <see cref="GemmNarrowColumns"/> runs instead where AVX2 is present): computed as
    /// Cᵀ [N, M] = op(B)ᵀ·op(A)ᵀ, whose few rows fill the micro-tile's rows instead of leaving most of its NR columns
    /// empty (dW_ih of an LSTM with 8 inputs: [256, 1600]·[1600, 8] took 3× as long as its transpose). Cᵀ starts as
    /// C's transpose when accumulating, and every element is the same chain of fused multiply-adds over k (a·b = b·a),
    /// added to C once per K block, so the bits are those of the direct product.
    /// N ≥ 2 keeps Cᵀ off the single-row path, whose order differs.
    /// </summary>
    private void ExecuteNarrow(in GemmOperands o)
    {
        int m = o.M, n = o.N;
        nint ldc = o.Ldc;
        float* c = o.C;
        float* ct = (t_narrowC ??= new PackingBuffer()).Get(n * m);
        if (o.Accumulate)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) ct[j * m + i] = c[i * ldc + j];
        _rowSums = null; // op(A) becomes the transposed product's B: the caller sums its rows
        Execute(new GemmOperands(!o.TransposeB, !o.TransposeA, n, m, o.K, o.B, o.Ldb, o.A, o.Lda, ct, m, o.Accumulate));
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[i * ldc + j] = ct[j * m + i];
    }

    /// <summary>Threads a product with few columns and transposed A runs on: one per block of twelve rows at most.</summary>
    private int NarrowColumnParts => Math.Min(_threads, (_o.M + GemmNarrowColumns.BlockRows - 1) / GemmNarrowColumns.BlockRows);

    /// <summary>
    /// Thread <paramref name="t"/>'s share of a product with few columns and transposed A (see
    /// <see cref="GemmNarrowColumns"/>): an equal range of its blocks of twelve rows, over all of K.
    /// </summary>
    private void ComputeNarrowColumns(int t)
    {
        const int block = GemmNarrowColumns.BlockRows;
        int blocks = (_o.M + block - 1) / block, parts = NarrowColumnParts;
        int i0 = (int)((long)t * blocks / parts) * block, i1 = Math.Min(_o.M, (int)((long)(t + 1) * blocks / parts) * block);
        GemmNarrowColumns.Rows(i0, i1, _o.N, _o.K, _o.A, _o.Lda, _o.B, _o.Ldb, _o.C, _o.Ldc, _o.Accumulate);
    }

    /// <summary>Most columns of C per work item when C has few rows (a multiple of every NR).</summary>
    private const int FewRowsChunk = 256;

    /// <summary>
    /// C with at most MC rows (per-step recurrent products): work items are fixed chunks of at most
    /// <see cref="FewRowsChunk"/> columns of C, each packing its own op(B) panels and all of op(A) for every K
    /// block, so one parallel phase per call suffices and no packed block is shared between threads. A C narrower
    /// than a chunk per thread is cut into one chunk per thread (whole panels), so it still runs on every thread: the
    /// transposed dW_ih of a small model ([8, T·B]·[T·B, 256]) was one item, on one thread.
    /// </summary>
    private void ExecuteFewRows()
    {
        _chunkPanels = Math.Min(FewRowsChunk / NR, ((_o.N + NR - 1) / NR + _threads - 1) / _threads);
        int chunk = _chunkPanels * NR;
        RunItems((_o.N + chunk - 1) / chunk, _computeFewRows);
    }

    private void ComputeFewRows(int item)
    {
        int chunk = _chunkPanels * NR, j0 = item * chunk;
        int bPanels = (Math.Min(chunk, _o.N - j0) + NR - 1) / NR;
        float* packedA = (t_packedA ??= new PackingBuffer()).Get(MC * KC);
        float* packedB = (t_packedB ??= new PackingBuffer()).Get(FewRowsChunk * KC);
        for (int pc = 0; pc < _o.K; pc += KC)
        {
            int kc = Math.Min(KC, _o.K - pc);
            PackA(packedA, 0, _o.M, pc, kc);
            PackB(packedB, j0, bPanels, pc, kc);
            ComputeBlock(packedA, 0, _o.M, packedB, j0, bPanels, kc, _o.Accumulate || pc > 0);
        }
    }

    /// <summary>Columns of C per work item of the single-row product; its partial sums stay in L1.</summary>
    private const int RowChunk = 1024;

    /// <summary>
    /// Widest op(B) with B transposed whose single-row product takes the micro-kernel's arithmetic (a model's head:
    /// N outputs); wider ones (the weights of a streaming step) take a faster order of their own.
    /// </summary>
    internal const int ExactRowColumns = 64;

    /// <summary>
    /// The single-row product c[1, N] (+)= a[1, K]·op(B)[K, N] (streaming inference): no packing of op(B), which
    /// is read once, in row order. Work items are fixed chunks of <see cref="RowChunk"/> columns.
    /// </summary>
    /// <remarks>
    /// With B as stored, and with B transposed when N ≤ <see cref="ExactRowColumns"/>, each c[j] gets the
    /// micro-kernel's exact operations (a fused multiply-add chain over p from zero in each K block, the block
    /// sums added to C in order), so one sequence gives the same bits alone as in a batch: a head's outputs for
    /// one window equal that window's outputs in a batched prediction. A wider transposed B (W_ih, W_hh read as
    /// stored by a streaming step) takes lane-parallel dot products instead.
    /// </remarks>
    private void ExecuteRow() => RunItems((_o.N + RowChunk - 1) / RowChunk, _computeRow);

    /// <summary>Columns [RowChunk·item, …) of the single-row product.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ComputeRow(int item)
    {
        int k = _o.K, count = TV.Count;
        int j0 = item * RowChunk, width = Math.Min(RowChunk, _o.N - j0);
        float* buffer = (t_packedA ??= new PackingBuffer()).Get(2 * RowChunk + k);
        float* sums = buffer, block = buffer + RowChunk, a = _o.A, c = _o.C + j0;
        if (_o.TransposeA && _o.Lda != 1)
        {
            // op(A)[0, p] = A[p, 0]: gather the column into a contiguous row.
            a = buffer + 2 * RowChunk;
            for (int p = 0; p < k; p++) a[p] = _o.A[(nint)p * _o.Lda];
        }

        if (!_o.TransposeB)
        {
            // Per K block, a chain over p into `block` (or straight into sums for the first block when not
            // accumulating), one row piece of B at a time; then sums += block, as the micro-kernel adds to C.
            int full = width - width % count;
            if (_o.Accumulate) new Span<float>(c, width).CopyTo(new Span<float>(sums, width));
            for (int pc = 0; pc < k; pc += KC)
            {
                bool direct = pc == 0 && !_o.Accumulate;
                float* chain = direct ? sums : block;
                new Span<float>(chain, width).Clear();
                float* row = _o.B + (nint)pc * _o.Ldb + j0;
                for (int p = pc; p < Math.Min(k, pc + KC); p++, row += _o.Ldb)
                {
                    TV av = TV.Broadcast(a[p]);
                    int j = 0;
                    for (; j < full; j += count) TV.Store(TV.FusedMultiplyAdd(av, TV.Load(row + j), TV.Load(chain + j)), chain + j);
                    for (; j < width; j++) chain[j] = MathF.FusedMultiplyAdd(a[p], row[j], chain[j]);
                }
                if (!direct)
                {
                    int j = 0;
                    for (; j < full; j += count) TV.Store(TV.Add(TV.Load(sums + j), TV.Load(block + j)), sums + j);
                    for (; j < width; j++) sums[j] += block[j];
                }
            }
            new Span<float>(sums, width).CopyTo(new Span<float>(c, width));
        }
        else if (_o.N <= ExactRowColumns)
        {
            // One output (a regression head) takes its chain alone: eight interleaved would cost it 3% of a streaming step.
            if (width == 1) *c = ExactDot(a, _o.B + (nint)j0 * _o.Ldb, k, *c, _o.Accumulate);
            else
                for (int j = 0; j < width; j += ExactRowsAtOnce)
                    ExactDots(a, _o.B + (nint)(j0 + j) * _o.Ldb, _o.Ldb, Math.Min(ExactRowsAtOnce, width - j), k, c + j, _o.Accumulate);
        }
        else if (typeof(TV) == typeof(Float512))
        {
            RowDotProducts512.Compute(a, k, _o.B + (nint)j0 * _o.Ldb, _o.Ldb, sums, width);
            AddToC(c, sums, width);
        }
        else if (typeof(TV) == typeof(Float256))
        {
            RowDotProducts256.Compute(a, k, _o.B + (nint)j0 * _o.Ldb, _o.Ldb, sums, width);
            AddToC(c, sums, width);
        }
        else
        {
            // Portable vectors: sums[j] = a · B[j0 + j, :], dot products over contiguous rows of B, four rows at a
            // time so four independent accumulators hide the multiply-add latency.
            int full = k - k % count;
            nint ldb = _o.Ldb;
            int j = 0;
            for (; j + 4 <= width; j += 4)
            {
                float* row = _o.B + (nint)(j0 + j) * ldb;
                TV acc0 = TV.Zero, acc1 = TV.Zero, acc2 = TV.Zero, acc3 = TV.Zero;
                int p = 0;
                for (; p < full; p += count)
                {
                    TV av = TV.Load(a + p);
                    acc0 = TV.FusedMultiplyAdd(av, TV.Load(row + p), acc0);
                    acc1 = TV.FusedMultiplyAdd(av, TV.Load(row + ldb + p), acc1);
                    acc2 = TV.FusedMultiplyAdd(av, TV.Load(row + 2 * ldb + p), acc2);
                    acc3 = TV.FusedMultiplyAdd(av, TV.Load(row + 3 * ldb + p), acc3);
                }
                float sum0 = TV.Sum(acc0), sum1 = TV.Sum(acc1), sum2 = TV.Sum(acc2), sum3 = TV.Sum(acc3);
                for (; p < k; p++)
                {
                    sum0 += a[p] * row[p];
                    sum1 += a[p] * row[ldb + p];
                    sum2 += a[p] * row[2 * ldb + p];
                    sum3 += a[p] * row[3 * ldb + p];
                }
                sums[j] = sum0;
                sums[j + 1] = sum1;
                sums[j + 2] = sum2;
                sums[j + 3] = sum3;
            }
            for (; j < width; j++)
            {
                float* row = _o.B + (nint)(j0 + j) * ldb;
                TV acc = TV.Zero;
                int p = 0;
                for (; p < full; p += count) acc = TV.FusedMultiplyAdd(TV.Load(a + p), TV.Load(row + p), acc);
                float sum = TV.Sum(acc);
                for (; p < k; p++) sum += a[p] * row[p];
                sums[j] = sum;
            }
            AddToC(c, sums, width);
        }
    }

    /// <summary>c (+)= sums over <paramref name="width"/> columns (as the accumulate flag says).</summary>
    private void AddToC(float* c, float* sums, int width)
    {
        var into = new Span<float>(c, width);
        if (_o.Accumulate) TensorPrimitives.Add(into, new ReadOnlySpan<float>(sums, width), into); // one add per element: the same bits as adding one by one
        else new Span<float>(sums, width).CopyTo(into);
    }

    /// <summary>
    /// (c +) Σ_p a[p]·row[p] with the micro-kernel's operations: per K block a fused multiply-add chain from zero,
    /// each block's sum added in turn (to <paramref name="c"/> when <paramref name="accumulate"/>).
    /// </summary>
    private static float ExactDot(float* a, float* row, int k, float c, bool accumulate)
    {
        float total = c;
        bool started = accumulate;
        for (int pc = 0; pc < k; pc += KC)
        {
            float chain = 0f;
            for (int p = pc; p < Math.Min(k, pc + KC); p++) chain = MathF.FusedMultiplyAdd(a[p], row[p], chain);
            total = started ? total + chain : chain;
            started = true;
        }
        return total;
    }

    /// <summary>Rows of B whose <see cref="ExactDots"/> chains run interleaved.</summary>
    private const int ExactRowsAtOnce = 8;

    /// <summary>
    /// c[i] = <see cref="ExactDot"/> of row_i = row + i·<paramref name="ldb"/> for the <paramref name="count"/> ≤ 8
    /// rows, the same operations per row. The eight chains run interleaved: one alone waits on each
    /// multiply-add's latency, and a head of N outputs took N chains end to end ([1, 128]·[128, 64]: 8.0 µs, 2.0–2.5
    /// interleaved). Rows from <paramref name="count"/> on repeat row 0 and are not stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ExactDots(float* a, float* row, nint ldb, int count, int k, float* c, bool accumulate)
    {
        float* r0 = row, r1 = RowOrFirst(row, ldb, 1, count), r2 = RowOrFirst(row, ldb, 2, count), r3 = RowOrFirst(row, ldb, 3, count);
        float* r4 = RowOrFirst(row, ldb, 4, count), r5 = RowOrFirst(row, ldb, 5, count), r6 = RowOrFirst(row, ldb, 6, count), r7 = RowOrFirst(row, ldb, 7, count);
        var totals = stackalloc float[ExactRowsAtOnce];
        for (int i = 0; i < ExactRowsAtOnce; i++) totals[i] = i < count ? c[i] : 0f;
        for (int pc = 0; pc < k; pc += KC)
        {
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f, s4 = 0f, s5 = 0f, s6 = 0f, s7 = 0f;
            for (int p = pc; p < Math.Min(k, pc + KC); p++)
            {
                float ap = a[p];
                s0 = MathF.FusedMultiplyAdd(ap, r0[p], s0);
                s1 = MathF.FusedMultiplyAdd(ap, r1[p], s1);
                s2 = MathF.FusedMultiplyAdd(ap, r2[p], s2);
                s3 = MathF.FusedMultiplyAdd(ap, r3[p], s3);
                s4 = MathF.FusedMultiplyAdd(ap, r4[p], s4);
                s5 = MathF.FusedMultiplyAdd(ap, r5[p], s5);
                s6 = MathF.FusedMultiplyAdd(ap, r6[p], s6);
                s7 = MathF.FusedMultiplyAdd(ap, r7[p], s7);
            }
            bool add = accumulate || pc > 0;
            (totals[0], totals[1], totals[2], totals[3]) = add ? (totals[0] + s0, totals[1] + s1, totals[2] + s2, totals[3] + s3) : (s0, s1, s2, s3);
            (totals[4], totals[5], totals[6], totals[7]) = add ? (totals[4] + s4, totals[5] + s5, totals[6] + s6, totals[7] + s7) : (s4, s5, s6, s7);
        }
        for (int i = 0; i < count; i++) c[i] = totals[i];
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>Worker <paramref name="t"/> packs its fixed share of the op(B) panels.</summary>
    private void PackBShare(int t)
    {
        int per = (_bPanels + _threads - 1) / _threads;
        int start = Math.Min(_bPanels, t * per), count = Math.Min(_bPanels - start, per);
        PackB(PanelsAt(_packedBBlock, 0, _bPanels, start, _kc), _jc + start * NR, count, _pc, _kc);
    }

    /// <summary>
    /// Runs work items 0 … items−1: in order on this thread, or claimed one at a time by up to <see cref="_threads"/>
    /// workers. Items write disjoint parts of C, so the result does not depend on who runs which.
    /// </summary>
    private void RunItems(int items, Action<int> work)
    {
        if (_threads == 1 || items == 1)
        {
            for (int item = 0; item < items; item++) work(item);
            return;
        }
        (_items, _itemWork, _nextItem) = (items, work, -1);
        Engine.Run(Math.Min(_threads, items), _shareBody);
    }

    /// <summary>A worker's share: the next unclaimed item until none is left.</summary>
    private void ShareItems(int t)
    {
        for (int item = Interlocked.Increment(ref _nextItem); item < _items; item = Interlocked.Increment(ref _nextItem))
            _itemWork(item);
    }

    /// <summary>
    /// Packs op(B)[pc : pc+kc, j0 : j0 + NR·panels] into <paramref name="panels"/> panels: panel q is [kc, NR]
    /// row-major at <c>dst + q·kc·NR</c>, zero past column N.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PackB(float* dst, int firstColumn, int panels, int pc, int kc)
    {
        int nr = NR;
        for (int panel = 0; panel < panels; panel++, dst += kc * nr)
        {
            int j0 = firstColumn + panel * nr;
            int width = Math.Min(nr, _o.N - j0);
            if (!_o.TransposeB)
            {
                // op(B)[p, j] = B[p, j]: each panel row is a contiguous piece of a row of B.
                float* src = _o.B + (nint)pc * _o.Ldb + j0;
                float* d = dst;
                if (width == nr)
                {
                    for (int p = 0; p < kc; p++, src += _o.Ldb, d += nr)
                    {
                        TV.Store(TV.Load(src), d);
                        TV.Store(TV.Load(src + TV.Count), d + TV.Count);
                    }
                }
                else
                {
                    for (int p = 0; p < kc; p++, src += _o.Ldb, d += nr)
                    {
                        int j = 0;
                        for (; j < width; j++) d[j] = src[j];
                        for (; j < nr; j++) d[j] = 0f;
                    }
                }
            }
            else
            {
                // op(B)[p, j] = B[j, p]: each column of the panel is a contiguous piece of a row of B. Four
                // source rows at a time keep the writes sequential.
                float* src = _o.B + (nint)j0 * _o.Ldb + pc;
                nint ldb = _o.Ldb;
                int j = 0;
                if (Avx.IsSupported)
                    for (; j + 8 <= width; j += 8, src += 8 * ldb) PackEightRows(dst + j, nr, src, ldb, kc);
                for (; j + 4 <= width; j += 4, src += 4 * ldb)
                {
                    float* d = dst + j;
                    for (int p = 0; p < kc; p++, d += nr)
                    {
                        d[0] = src[p];
                        d[1] = src[ldb + p];
                        d[2] = src[2 * ldb + p];
                        d[3] = src[3 * ldb + p];
                    }
                }
                for (; j < nr; j++, src += ldb)
                {
                    float* d = dst + j;
                    if (j < width)
                    {
                        for (int p = 0; p < kc; p++, d += nr) *d = src[p];
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++, d += nr) *d = 0f;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Packs op(A)[i0 : i0+rows, pc : pc+kc] into ⌈rows/MR⌉ panels, panel q is [kc, MR] row-major at
    /// <c>dst + q·kc·MR</c>, zero past row M.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PackA(float* dst, int i0, int rows, int pc, int kc, float* rowSums = null)
    {
        for (int r0 = i0; r0 < i0 + rows; r0 += MR, dst += kc * MR)
        {
            float* sums = rowSums == null ? null : rowSums + r0;
            if (MR == 8 && _o.TransposeA && r0 + 2 * MR <= i0 + rows && Avx.IsSupported)
            {
                // Two full panels of eight from transposed A in one pass (see PackSixteenTransposed).
                PackSixteenTransposed(dst, _o.A + (nint)pc * _o.Lda + r0, _o.Lda, kc, sums);
                r0 += MR;
                dst += kc * MR;
                continue;
            }
            int height = Math.Min(MR, _o.M - r0);
            if (MR == 8 && height == 8 && Avx.IsSupported)
            {
                // A full panel of eight rows: each packed step is one 256-bit vector (a copy when A is transposed,
                // an 8×8 transpose per eight steps when not), the same values the scalar loops below write.
                if (_o.TransposeA) PackEightTransposed(dst, _o.A + (nint)pc * _o.Lda + r0, _o.Lda, kc, sums);
                else
                {
                    PackEightRows(dst, 8, _o.A + (nint)r0 * _o.Lda + pc, _o.Lda, kc);
                    if (sums != null) AddRowSums(sums, 8, _o.A + (nint)r0 * _o.Lda + pc, _o.Lda, kc);
                }
                continue;
            }
            if (MR == 6 && Avx.IsSupported && (height == 6 || !_o.TransposeA))
            {
                // AVX2's panel of six rows: six values per packed step, written as a 128-bit and a 64-bit store (a
                // copy when A is transposed, an 8×8 transpose per eight steps when not, which also packs the last
                // panel of fewer rows: a batch part of 16 rows is 6 + 6 + 4 every step), the same values the scalar
                // loops below write.
                if (_o.TransposeA) PackSixTransposed(dst, _o.A + (nint)pc * _o.Lda + r0, _o.Lda, kc, sums);
                else
                {
                    PackSixRows(dst, _o.A + (nint)r0 * _o.Lda + pc, _o.Lda, kc, height);
                    if (sums != null) AddRowSums(sums, height, _o.A + (nint)r0 * _o.Lda + pc, _o.Lda, kc);
                }
                continue;
            }
            if (!_o.TransposeA)
            {
                // op(A)[i, p] = A[i, p]: the panel's rows are contiguous pieces of rows of A.
                for (int i = 0; i < MR; i++)
                {
                    float* row = dst + i;
                    if (i < height)
                    {
                        float* src = _o.A + (nint)(r0 + i) * _o.Lda + pc;
                        for (int p = 0; p < kc; p++) row[p * MR] = src[p];
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++) row[p * MR] = 0f;
                    }
                }
                if (sums != null) AddRowSums(sums, height, _o.A + (nint)r0 * _o.Lda + pc, _o.Lda, kc);
            }
            else
            {
                // op(A)[i, p] = A[p, i]: each packed step is a contiguous piece of a row of A.
                float* src = _o.A + (nint)pc * _o.Lda + r0;
                float* d = dst;
                for (int p = 0; p < kc; p++, src += _o.Lda, d += MR)
                {
                    int i = 0;
                    for (; i < height; i++) d[i] = src[i];
                    for (; i < MR; i++) d[i] = 0f;
                    if (sums != null)
                        for (i = 0; i < height; i++) sums[i] += src[i];
                }
            }
        }
    }

    /// <summary>sums[i] += Σ_p src[i·lda + p] over p &lt; kc in order, for rows i &lt; rows (row sums of an untransposed A panel).</summary>
    private static void AddRowSums(float* sums, int rows, float* src, nint lda, int kc)
    {
        for (int i = 0; i < rows; i++, src += lda)
        {
            float sum = sums[i];
            for (int p = 0; p < kc; p++) sum += src[p];
            sums[i] = sum;
        }
    }

    /// <summary>
    /// Two panels of eight at once: sixteen columns of A [kc rows, stride lda] from <paramref name="src"/> into the
    /// panel at <paramref name="dst"/> (columns 0 … 8) and the next, kc·8 floats on (columns 8 … 16); with
    /// <paramref name="sums"/>, also adds the steps into sums[0 … 16) in step order. One pass over the K block's rows
    /// of A reads each step's sixteen values (a whole line when aligned) where two passes of
    /// <see cref="PackEightTransposed"/> read eight each. Alternating in one process (Zen 4): config a's dW_hh,
    /// [256, 1600]ᵀ·[1600, 64], 544–550 against 555–579 µs at one thread and 288–291 against 295–301 µs at
    /// two; b's [1024, 6400]ᵀ·[6400, 256] 33.4–33.7 against 34.5–35.5 ms at one thread, level at two. Four
    /// panels at once, or a prefetch of the row 4–16 steps ahead, were no faster.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackSixteenTransposed(float* dst, float* src, nint lda, int kc, float* sums)
    {
        float* second = dst + (nint)kc * 8;
        if (sums == null)
        {
            for (int p = 0; p < kc; p++, src += lda, dst += 8, second += 8)
            {
                Vector256.Store(Vector256.Load(src), dst);
                Vector256.Store(Vector256.Load(src + 8), second);
            }
            return;
        }
        Vector256<float> sum0 = Vector256.Load(sums), sum1 = Vector256.Load(sums + 8);
        for (int p = 0; p < kc; p++, src += lda, dst += 8, second += 8)
        {
            Vector256<float> low = Vector256.Load(src), high = Vector256.Load(src + 8);
            Vector256.Store(low, dst);
            Vector256.Store(high, second);
            sum0 += low;
            sum1 += high;
        }
        Vector256.Store(sum0, sums);
        Vector256.Store(sum1, sums + 8);
    }

    /// <summary>
    /// Packs eight columns of A [kc rows, stride lda] from <paramref name="src"/>: step p is src[p·lda … +8]; with
    /// <paramref name="sums"/>, also adds the steps into sums[0 … 8) in step order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackEightTransposed(float* dst, float* src, nint lda, int kc, float* sums)
    {
        if (sums == null)
        {
            for (int p = 0; p < kc; p++, src += lda, dst += 8) Vector256.Store(Vector256.Load(src), dst);
            return;
        }
        var sum = Vector256.Load(sums);
        for (int p = 0; p < kc; p++, src += lda, dst += 8)
        {
            var step = Vector256.Load(src);
            Vector256.Store(step, dst);
            sum += step;
        }
        Vector256.Store(sum, sums);
    }

    /// <summary>
    /// Copies six columns of A [kc rows, stride lda] from <paramref name="src"/> into a panel of stride 6: step p is
    /// src[p·lda … +6]; with <paramref name="sums"/>, also adds the steps into sums[0 … 6) in step order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackSixTransposed(float* dst, float* src, nint lda, int kc, float* sums)
    {
        if (sums == null)
        {
            for (int p = 0; p < kc; p++, src += lda, dst += 6)
            {
                Vector128.Store(Vector128.Load(src), dst);
                *(double*)(dst + 4) = *(double*)(src + 4);
            }
            return;
        }
        // The sums stay in registers, one lane or scalar per column: added to memory, each step's six additions waited
        // on the previous step's stores, and the bias sums of a small model's dW_hh ([256, 800]ᵀ·[800, 64]) made config
        // a's training step 1.11× slower at two threads (1.09× at one, 1.05× for b).
        var low = Vector128.Load(sums);
        float sum4 = sums[4], sum5 = sums[5];
        for (int p = 0; p < kc; p++, src += lda, dst += 6)
        {
            var step = Vector128.Load(src);
            Vector128.Store(step, dst);
            *(double*)(dst + 4) = *(double*)(src + 4);
            low += step;
            sum4 += src[4];
            sum5 += src[5];
        }
        Vector128.Store(low, sums);
        sums[4] = sum4;
        sums[5] = sum5;
    }

    /// <summary>
    /// Transposes the first <paramref name="height"/> (1 to 6) of six source rows (row r at src + r·lda, kc values
    /// each) into kc steps of six values (step p at dst + 6p holds the rows' p-th values, zero past height): eight
    /// steps at a time through an 8×8 transpose into a stack tile, zero vectors standing in for the rows past height
    /// (never read from src) and for rows six and seven (never copied out); the last kc mod 8 steps one value at a
    /// time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackSixRows(float* dst, float* src, nint lda, int kc, int height)
    {
        int p = 0;
        float* tile = stackalloc float[64];
        for (; p + 8 <= kc; p += 8, dst += 48)
        {
            float* s = src + p;
            Vector256<float> RowOrZero(int r) => r < height ? Avx.LoadVector256(s + r * lda) : Vector256<float>.Zero;
            var zero = Vector256<float>.Zero;
            Transpose8x8(tile, 8, RowOrZero(0), RowOrZero(1), RowOrZero(2), RowOrZero(3), RowOrZero(4), RowOrZero(5), zero, zero);
            for (int q = 0; q < 8; q++)
            {
                Vector128.Store(Vector128.Load(tile + 8 * q), dst + 6 * q);
                *(double*)(dst + 6 * q + 4) = *(double*)(tile + 8 * q + 4);
            }
        }
        for (; p < kc; p++, dst += 6)
            for (int r = 0; r < 6; r++) dst[r] = r < height ? src[r * lda + p] : 0f;
    }

    /// <summary>
    /// Stores the 8×8 transpose of rows r0 … r7: step q at dst + q·stride holds lane q of every row. Pairs of rows
    /// are interleaved, then quadruples, then the 128-bit halves exchanged.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* dst, nint stride, Vector256<float> r0, Vector256<float> r1, Vector256<float> r2,
        Vector256<float> r3, Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7)
    {
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> q0 = Avx.Shuffle(t0, t2, 0x44), q1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> q2 = Avx.Shuffle(t1, t3, 0x44), q3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> q4 = Avx.Shuffle(t4, t6, 0x44), q5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> q6 = Avx.Shuffle(t5, t7, 0x44), q7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(q0, q4, 0x20));
        Avx.Store(dst + stride, Avx.Permute2x128(q1, q5, 0x20));
        Avx.Store(dst + 2 * stride, Avx.Permute2x128(q2, q6, 0x20));
        Avx.Store(dst + 3 * stride, Avx.Permute2x128(q3, q7, 0x20));
        Avx.Store(dst + 4 * stride, Avx.Permute2x128(q0, q4, 0x31));
        Avx.Store(dst + 5 * stride, Avx.Permute2x128(q1, q5, 0x31));
        Avx.Store(dst + 6 * stride, Avx.Permute2x128(q2, q6, 0x31));
        Avx.Store(dst + 7 * stride, Avx.Permute2x128(q3, q7, 0x31));
    }

    /// <summary>
    /// Transposes eight source rows (row r at src + r·lda, kc values each) into kc destination steps of eight values
    /// (step p at dst + p·dstStride holds the rows' p-th values): an A panel (stride 8), or eight columns of a B
    /// panel from transposed B (stride NR). Eight steps at a time by <see cref="Transpose8x8"/>; the last kc mod 8
    /// steps one value at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackEightRows(float* dst, nint dstStride, float* src, nint lda, int kc)
    {
        int p = 0;
        for (; p + 8 <= kc; p += 8, dst += 8 * dstStride)
        {
            float* s = src + p;
            Transpose8x8(dst, dstStride, Avx.LoadVector256(s), Avx.LoadVector256(s + lda), Avx.LoadVector256(s + 2 * lda),
                Avx.LoadVector256(s + 3 * lda), Avx.LoadVector256(s + 4 * lda), Avx.LoadVector256(s + 5 * lda),
                Avx.LoadVector256(s + 6 * lda), Avx.LoadVector256(s + 7 * lda));
        }
        for (; p < kc; p++, dst += dstStride)
            for (int r = 0; r < 8; r++) dst[r] = src[r * lda + p];
    }

    /// <summary>One work item: a row block of C times a chunk of the shared packed op(B) block.</summary>
    private void Compute(int item)
    {
        int rowBlock = item / _colChunks, chunk = item % _colChunks;
        int firstPanel = rowBlock * _panelsPerBlock;
        int panels = Math.Min(_panelsPerBlock, _rowPanels - firstPanel);
        int i0 = firstPanel * MR;
        int rows = Math.Min(panels * MR, _o.M - i0);
        int b0 = chunk * _chunkPanels, bPanels = Math.Min(_bPanels, b0 + _chunkPanels) - b0;

        float* packedA = (t_packedA ??= new PackingBuffer()).Get(MC * KC);
        PackA(packedA, i0, rows, _pc, _kc, _jc == 0 && chunk == 0 ? _rowSums : null);
        ComputeBlock(packedA, i0, rows, PanelsAt(_packedBBlock, 0, _bPanels, b0, _kc), _jc + b0 * NR, bPanels, _kc, _addToC);
    }

    /// <summary>
    /// C[i0 : i0+rows, j0 : j0 + NR·bPanels] (+)= Ã·B̃ for one K block of depth <paramref name="kc"/>, where Ã
    /// holds ⌈rows/MR⌉ packed row panels and B̃ <paramref name="bPanels"/> packed column panels. Full tiles go
    /// straight to C; edge tiles go through a scratch tile so nothing outside the M×N region is touched. With
    /// <paramref name="aInPlace"/> (AVX2, A not transposed) the kernels read the block's rows of A there instead, row
    /// i0 + i at <c>aInPlace + i·lda</c>, and <paramref name="packedA"/> is not read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ComputeBlock(float* packedA, int i0, int rows, float* packedB, int j0, int bPanels, int kc, bool addToC, float* aInPlace = null)
    {
        int nr = NR;
        int panels = (rows + MR - 1) / MR;
        float* tile = stackalloc float[MR * nr];
        nint ldc = _o.Ldc, lda = _o.Lda;
        int prefetchSteps = (kc + PrefetchEvery - 1) / PrefetchEvery;
        for (int bp = 0; bp < bPanels; bp++)
        {
            int jt = j0 + bp * nr;
            int width = Math.Min(nr, _o.N - jt);
            float* bPanel = packedB + (nint)bp * kc * nr;
            // The next B panel, a slice per row panel (the current one again after the last).
            float* nextPanel = bp + 1 < bPanels ? bPanel + (nint)kc * nr : bPanel;
            for (int q = 0; q < panels; q++)
            {
                int r0 = i0 + q * MR;
                int height = Math.Min(MR, _o.M - r0);
                float* aPanel = aInPlace == null ? packedA + (nint)q * kc * MR : aInPlace + q * MR * lda;
                float* cTile = _o.C + r0 * ldc + jt;
                float* prefetch = nextPanel + (nint)Math.Min(q * prefetchSteps % kc, kc - prefetchSteps) * nr;
                if (height == MR && width == nr)
                {
                    if (aInPlace == null) MicroKernel(kc, aPanel, bPanel, cTile, ldc, addToC, prefetch);
                    else MicroKernel6Avx2InPlace(kc, aPanel, lda, height, bPanel, cTile, ldc, addToC, prefetch);
                }
                else if (height <= 4 && width == nr)
                {
                    if (aInPlace == null) MicroKernelFewRows(kc, aPanel, bPanel, cTile, ldc, addToC, height);
                    else MicroKernelFewRowsAvx2InPlace(kc, aPanel, lda, height, bPanel, cTile, ldc, addToC);
                }
                else
                {
                    if (aInPlace == null) MicroKernel(kc, aPanel, bPanel, tile, nr, addToC: false, prefetch);
                    else MicroKernel6Avx2InPlace(kc, aPanel, lda, height, bPanel, tile, nr, addToC: false, prefetch);
                    for (int i = 0; i < height; i++)
                    {
                        float* src = tile + i * nr;
                        float* dst = cTile + i * ldc;
                        if (addToC)
                        {
                            for (int j = 0; j < width; j++) dst[j] += src[j];
                        }
                        else
                        {
                            for (int j = 0; j < width; j++) dst[j] = src[j];
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// C[MR, NR] (+)= Ã·B̃ over <paramref name="kc"/> steps, where Ã is a packed [kc, MR] panel, B̃ a packed
    /// [kc, NR] panel and C a full tile with row stride <paramref name="ldc"/>. The MR×2 vector accumulators
    /// stay in registers; each step loads two B vectors and broadcasts MR values of A.
    /// </summary>
    /// <remarks>
    /// The AVX2 and AVX-512 kernels also ask for one line of <paramref name="prefetchB"/> every
    /// <see cref="PrefetchEvery"/> steps (AVX-512: <see cref="PrefetchEvery512"/>), into L2: ComputeBlock points it
    /// at a slice of the next B panel, which otherwise comes from L3 (the packed block is [KC, NC], MiBs) while the
    /// first row panel's kernel waits on it. At two threads (Zen 3, old and new alternating in one process):
    /// [3200, 1024]·[1024, 4096] 1.13× faster, d's dW [4096, 3200]·[3200, 1024] 1.15×, d's training step 1.19×;
    /// products whose B stays in L2 (config a) unchanged. A slice per row panel keeps the prefetches few (one per
    /// four steps; AVX-512, whose panel is twice as wide, one per two) and spread over the panel's kernels.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MicroKernel(int kc, float* a, float* b, float* c, nint ldc, bool addToC, float* prefetchB)
    {
        if (typeof(TV) == typeof(Float256)) MicroKernel6Avx2(kc, a, b, c, ldc, addToC, prefetchB);
        else if (typeof(TV) == typeof(Float512)) MicroKernel8Avx512(kc, a, b, c, ldc, addToC, prefetchB);
        else MicroKernel6(kc, a, b, c, ldc, addToC);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel6(int kc, float* a, float* b, float* c, nint ldc, bool addToC)
    {
        if (addToC) PrefetchTile(c, ldc, 6);
        TV c00 = TV.Zero, c01 = TV.Zero;
        TV c10 = TV.Zero, c11 = TV.Zero;
        TV c20 = TV.Zero, c21 = TV.Zero;
        TV c30 = TV.Zero, c31 = TV.Zero;
        TV c40 = TV.Zero, c41 = TV.Zero;
        TV c50 = TV.Zero, c51 = TV.Zero;
        for (int p = 0; p < kc; p++)
        {
            TV b0 = TV.Load(b);
            TV b1 = TV.Load(b + TV.Count);
            TV av = TV.Broadcast(a[0]);
            c00 = TV.FusedMultiplyAdd(av, b0, c00);
            c01 = TV.FusedMultiplyAdd(av, b1, c01);
            av = TV.Broadcast(a[1]);
            c10 = TV.FusedMultiplyAdd(av, b0, c10);
            c11 = TV.FusedMultiplyAdd(av, b1, c11);
            av = TV.Broadcast(a[2]);
            c20 = TV.FusedMultiplyAdd(av, b0, c20);
            c21 = TV.FusedMultiplyAdd(av, b1, c21);
            av = TV.Broadcast(a[3]);
            c30 = TV.FusedMultiplyAdd(av, b0, c30);
            c31 = TV.FusedMultiplyAdd(av, b1, c31);
            av = TV.Broadcast(a[4]);
            c40 = TV.FusedMultiplyAdd(av, b0, c40);
            c41 = TV.FusedMultiplyAdd(av, b1, c41);
            av = TV.Broadcast(a[5]);
            c50 = TV.FusedMultiplyAdd(av, b0, c50);
            c51 = TV.FusedMultiplyAdd(av, b1, c51);
            a += 6;
            b += 2 * TV.Count;
        }
        StoreRow(c, c00, c01, addToC);
        StoreRow(c + ldc, c10, c11, addToC);
        StoreRow(c + 2 * ldc, c20, c21, addToC);
        StoreRow(c + 3 * ldc, c30, c31, addToC);
        StoreRow(c + 4 * ldc, c40, c41, addToC);
        StoreRow(c + 5 * ldc, c50, c51, addToC);
    }

    /// <summary>
    /// <see cref="MicroKernel6"/> for AVX2 in 256-bit vectors directly: through the generic wrapper the JIT kept each
    /// broadcast in a register it then overwrote, and paid a register copy per multiply-add pair (30 instructions a
    /// step instead of 24), which left Zen 3's six-wide dispatch little slack. Same operations, same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel6Avx2(int kc, float* a, float* b, float* c, nint ldc, bool addToC, float* prefetchB)
    {
        if (addToC) PrefetchTile(c, ldc, 6);
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, a += 6, b += 16)
        {
            if (p % PrefetchEvery == 0)
            {
                Sse.Prefetch1(prefetchB);
                prefetchB += 16;
            }
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8);
            c00 = Vector256.FusedMultiplyAdd(Vector256.Create(a[0]), b0, c00);
            c01 = Vector256.FusedMultiplyAdd(Vector256.Create(a[0]), b1, c01);
            c10 = Vector256.FusedMultiplyAdd(Vector256.Create(a[1]), b0, c10);
            c11 = Vector256.FusedMultiplyAdd(Vector256.Create(a[1]), b1, c11);
            c20 = Vector256.FusedMultiplyAdd(Vector256.Create(a[2]), b0, c20);
            c21 = Vector256.FusedMultiplyAdd(Vector256.Create(a[2]), b1, c21);
            c30 = Vector256.FusedMultiplyAdd(Vector256.Create(a[3]), b0, c30);
            c31 = Vector256.FusedMultiplyAdd(Vector256.Create(a[3]), b1, c31);
            c40 = Vector256.FusedMultiplyAdd(Vector256.Create(a[4]), b0, c40);
            c41 = Vector256.FusedMultiplyAdd(Vector256.Create(a[4]), b1, c41);
            c50 = Vector256.FusedMultiplyAdd(Vector256.Create(a[5]), b0, c50);
            c51 = Vector256.FusedMultiplyAdd(Vector256.Create(a[5]), b1, c51);
        }
        StoreRow256(c, c00, c01, addToC);
        StoreRow256(c + ldc, c10, c11, addToC);
        StoreRow256(c + 2 * ldc, c20, c21, addToC);
        StoreRow256(c + 3 * ldc, c30, c31, addToC);
        StoreRow256(c + 4 * ldc, c40, c41, addToC);
        StoreRow256(c + 5 * ldc, c50, c51, addToC);
    }

    /// <summary>
    /// The AVX-512 micro-kernel, MR = 8 rows by two 512-bit vectors, in 512-bit vectors directly: through the generic
    /// wrapper the JIT broadcast into one register, multiplied into it and copied it to the accumulator (a register
    /// copy for every second multiply-add, 9 a step), as in <see cref="MicroKernel6Avx2"/>. Same operations, same
    /// bits. Like the AVX2 kernel it asks for one line of the next B panel's slice, here every
    /// <see cref="PrefetchEvery512"/> steps: at two threads (Zen 4, with and without alternating in one process) d's
    /// inference took 259–268 ms with it against 269–274 without, d's training step 683 against 704 ms, and [2048]³
    /// ran 2–4% faster; configs a and b, and one thread, level. The direct form alone was 0.5–1.5% faster.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel8Avx512(int kc, float* a, float* b, float* c, nint ldc, bool addToC, float* prefetchB)
    {
        if (addToC) PrefetchTile(c, ldc, 8);
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++, a += 8, b += 32)
        {
            if (p % PrefetchEvery512 == 0)
            {
                Sse.Prefetch1(prefetchB);
                prefetchB += 16;
            }
            Vector512<float> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 16);
            c00 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c00);
            c01 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b1, c01);
            c10 = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c10);
            c11 = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b1, c11);
            c20 = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c20);
            c21 = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b1, c21);
            c30 = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c30);
            c31 = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b1, c31);
            c40 = Vector512.FusedMultiplyAdd(Vector512.Create(a[4]), b0, c40);
            c41 = Vector512.FusedMultiplyAdd(Vector512.Create(a[4]), b1, c41);
            c50 = Vector512.FusedMultiplyAdd(Vector512.Create(a[5]), b0, c50);
            c51 = Vector512.FusedMultiplyAdd(Vector512.Create(a[5]), b1, c51);
            c60 = Vector512.FusedMultiplyAdd(Vector512.Create(a[6]), b0, c60);
            c61 = Vector512.FusedMultiplyAdd(Vector512.Create(a[6]), b1, c61);
            c70 = Vector512.FusedMultiplyAdd(Vector512.Create(a[7]), b0, c70);
            c71 = Vector512.FusedMultiplyAdd(Vector512.Create(a[7]), b1, c71);
        }
        StoreRow512(c, c00, c01, addToC);
        StoreRow512(c + ldc, c10, c11, addToC);
        StoreRow512(c + 2 * ldc, c20, c21, addToC);
        StoreRow512(c + 3 * ldc, c30, c31, addToC);
        StoreRow512(c + 4 * ldc, c40, c41, addToC);
        StoreRow512(c + 5 * ldc, c50, c51, addToC);
        StoreRow512(c + 6 * ldc, c60, c61, addToC);
        StoreRow512(c + 7 * ldc, c70, c71, addToC);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow512(float* c, Vector512<float> low, Vector512<float> high, bool addToC)
    {
        if (addToC)
        {
            low = Vector512.Load(c) + low;
            high = Vector512.Load(c + 16) + high;
        }
        low.Store(c);
        high.Store(c + 16);
    }

    /// <summary>
    /// <see cref="MicroKernel6Avx2"/> with A's rows read in place, <paramref name="lda"/> apart, instead of from a packed
    /// panel (for products with few B panels, where packing A costs most; see InPlaceMostPanels): the same values in
    /// the same order, so the same bits. Rows from <paramref name="height"/> on read row 0 again and are stored only
    /// into the caller's scratch tile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel6Avx2InPlace(int kc, float* a, nint lda, int height, float* b, float* c, nint ldc, bool addToC, float* prefetchB)
    {
        if (addToC) PrefetchTile(c, ldc, height);
        float* a0 = a, a1 = RowOrFirst(a, lda, 1, height), a2 = RowOrFirst(a, lda, 2, height);
        float* a3 = RowOrFirst(a, lda, 3, height), a4 = RowOrFirst(a, lda, 4, height), a5 = RowOrFirst(a, lda, 5, height);
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (nint p = 0; p < kc; p++, b += 16)
        {
            if (p % PrefetchEvery == 0)
            {
                Sse.Prefetch1(prefetchB);
                prefetchB += 16;
            }
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8);
            c00 = Vector256.FusedMultiplyAdd(Vector256.Create(a0[p]), b0, c00);
            c01 = Vector256.FusedMultiplyAdd(Vector256.Create(a0[p]), b1, c01);
            c10 = Vector256.FusedMultiplyAdd(Vector256.Create(a1[p]), b0, c10);
            c11 = Vector256.FusedMultiplyAdd(Vector256.Create(a1[p]), b1, c11);
            c20 = Vector256.FusedMultiplyAdd(Vector256.Create(a2[p]), b0, c20);
            c21 = Vector256.FusedMultiplyAdd(Vector256.Create(a2[p]), b1, c21);
            c30 = Vector256.FusedMultiplyAdd(Vector256.Create(a3[p]), b0, c30);
            c31 = Vector256.FusedMultiplyAdd(Vector256.Create(a3[p]), b1, c31);
            c40 = Vector256.FusedMultiplyAdd(Vector256.Create(a4[p]), b0, c40);
            c41 = Vector256.FusedMultiplyAdd(Vector256.Create(a4[p]), b1, c41);
            c50 = Vector256.FusedMultiplyAdd(Vector256.Create(a5[p]), b0, c50);
            c51 = Vector256.FusedMultiplyAdd(Vector256.Create(a5[p]), b1, c51);
        }
        StoreRow256(c, c00, c01, addToC);
        StoreRow256(c + ldc, c10, c11, addToC);
        StoreRow256(c + 2 * ldc, c20, c21, addToC);
        StoreRow256(c + 3 * ldc, c30, c31, addToC);
        StoreRow256(c + 4 * ldc, c40, c41, addToC);
        StoreRow256(c + 5 * ldc, c50, c51, addToC);
    }

    /// <summary><see cref="MicroKernelFewRowsAvx2"/> with A's rows read in place, as <see cref="MicroKernel6Avx2InPlace"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernelFewRowsAvx2InPlace(int kc, float* a, nint lda, int height, float* b, float* c, nint ldc, bool addToC)
    {
        if (addToC) PrefetchTile(c, ldc, height);
        float* a0 = a, a1 = RowOrFirst(a, lda, 1, height), a2 = RowOrFirst(a, lda, 2, height), a3 = RowOrFirst(a, lda, 3, height);
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        for (nint p = 0; p < kc; p++, b += 16)
        {
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8);
            c00 = Vector256.FusedMultiplyAdd(Vector256.Create(a0[p]), b0, c00);
            c01 = Vector256.FusedMultiplyAdd(Vector256.Create(a0[p]), b1, c01);
            c10 = Vector256.FusedMultiplyAdd(Vector256.Create(a1[p]), b0, c10);
            c11 = Vector256.FusedMultiplyAdd(Vector256.Create(a1[p]), b1, c11);
            c20 = Vector256.FusedMultiplyAdd(Vector256.Create(a2[p]), b0, c20);
            c21 = Vector256.FusedMultiplyAdd(Vector256.Create(a2[p]), b1, c21);
            c30 = Vector256.FusedMultiplyAdd(Vector256.Create(a3[p]), b0, c30);
            c31 = Vector256.FusedMultiplyAdd(Vector256.Create(a3[p]), b1, c31);
        }
        StoreRow256(c, c00, c01, addToC);
        if (height > 1) StoreRow256(c + ldc, c10, c11, addToC);
        if (height > 2) StoreRow256(c + 2 * ldc, c20, c21, addToC);
        if (height > 3) StoreRow256(c + 3 * ldc, c30, c31, addToC);
    }

    /// <summary>Row <paramref name="i"/> of A at <paramref name="a"/>, or row 0 when the tile has only <paramref name="height"/> rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* RowOrFirst(float* a, nint lda, int i, int height) => i < height ? a + i * lda : a;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow256(float* c, Vector256<float> low, Vector256<float> high, bool addToC)
    {
        if (addToC)
        {
            low = Vector256.Load(c) + low;
            high = Vector256.Load(c + 8) + high;
        }
        low.Store(c);
        high.Store(c + 8);
    }

    /// <summary>
    /// The last row panel's tile when it has at most four of the MR rows and all NR columns: C[height, NR] (+)= Ã·B̃
    /// with four row accumulators (Ã's rows past <paramref name="height"/> are the panel's zero padding), stored
    /// straight to C. Half the steps' multiply-adds of the full kernel, no scratch tile, and each element the same
    /// chain of fused multiply-adds, so the same bits. Four chains of two vectors still fill both FMA pipes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernelFewRows(int kc, float* a, float* b, float* c, nint ldc, bool addToC, int height)
    {
        if (typeof(TV) == typeof(Float256))
        {
            MicroKernelFewRowsAvx2(kc, a, b, c, ldc, addToC, height);
            return;
        }
        if (addToC) PrefetchTile(c, ldc, height);
        TV c00 = TV.Zero, c01 = TV.Zero;
        TV c10 = TV.Zero, c11 = TV.Zero;
        TV c20 = TV.Zero, c21 = TV.Zero;
        TV c30 = TV.Zero, c31 = TV.Zero;
        int mr = MR;
        for (int p = 0; p < kc; p++)
        {
            TV b0 = TV.Load(b);
            TV b1 = TV.Load(b + TV.Count);
            TV av = TV.Broadcast(a[0]);
            c00 = TV.FusedMultiplyAdd(av, b0, c00);
            c01 = TV.FusedMultiplyAdd(av, b1, c01);
            av = TV.Broadcast(a[1]);
            c10 = TV.FusedMultiplyAdd(av, b0, c10);
            c11 = TV.FusedMultiplyAdd(av, b1, c11);
            av = TV.Broadcast(a[2]);
            c20 = TV.FusedMultiplyAdd(av, b0, c20);
            c21 = TV.FusedMultiplyAdd(av, b1, c21);
            av = TV.Broadcast(a[3]);
            c30 = TV.FusedMultiplyAdd(av, b0, c30);
            c31 = TV.FusedMultiplyAdd(av, b1, c31);
            a += mr;
            b += 2 * TV.Count;
        }
        StoreRow(c, c00, c01, addToC);
        if (height > 1) StoreRow(c + ldc, c10, c11, addToC);
        if (height > 2) StoreRow(c + 2 * ldc, c20, c21, addToC);
        if (height > 3) StoreRow(c + 3 * ldc, c30, c31, addToC);
    }

    /// <summary><see cref="MicroKernelFewRows"/> for AVX2 in 256-bit vectors directly, as <see cref="MicroKernel6Avx2"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernelFewRowsAvx2(int kc, float* a, float* b, float* c, nint ldc, bool addToC, int height)
    {
        if (addToC) PrefetchTile(c, ldc, height);
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        for (int p = 0; p < kc; p++, a += 6, b += 16)
        {
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8);
            c00 = Vector256.FusedMultiplyAdd(Vector256.Create(a[0]), b0, c00);
            c01 = Vector256.FusedMultiplyAdd(Vector256.Create(a[0]), b1, c01);
            c10 = Vector256.FusedMultiplyAdd(Vector256.Create(a[1]), b0, c10);
            c11 = Vector256.FusedMultiplyAdd(Vector256.Create(a[1]), b1, c11);
            c20 = Vector256.FusedMultiplyAdd(Vector256.Create(a[2]), b0, c20);
            c21 = Vector256.FusedMultiplyAdd(Vector256.Create(a[2]), b1, c21);
            c30 = Vector256.FusedMultiplyAdd(Vector256.Create(a[3]), b0, c30);
            c31 = Vector256.FusedMultiplyAdd(Vector256.Create(a[3]), b1, c31);
        }
        StoreRow256(c, c00, c01, addToC);
        if (height > 1) StoreRow256(c + ldc, c10, c11, addToC);
        if (height > 2) StoreRow256(c + 2 * ldc, c20, c21, addToC);
        if (height > 3) StoreRow256(c + 3 * ldc, c30, c31, addToC);
    }

    /// <summary>
    /// Asks for the C tile's rows (first and last element of each) before the steps run, so the loads that add the
    /// steps' sums to C at the end find them in cache: C is read once per K block, long after it left L1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchTile(float* c, nint ldc, int rows)
    {
        if (!Sse.IsSupported) return;
        for (int i = 0; i < rows; i++, c += ldc)
        {
            Sse.Prefetch0(c);
            Sse.Prefetch0(c + NR - 1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(float* c, TV low, TV high, bool addToC)
    {
        if (addToC)
        {
            low = TV.Add(TV.Load(c), low);
            high = TV.Add(TV.Load(c + TV.Count), high);
        }
        TV.Store(low, c);
        TV.Store(high, c + TV.Count);
    }
}
