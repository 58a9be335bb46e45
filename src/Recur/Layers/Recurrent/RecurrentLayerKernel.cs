using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// What one layer's forward pass keeps for its backward pass. Hs: [(T+1), B, H] holds the states h_0 … h_T;
/// Cs likewise (empty without cell state); Saved: [T, B, S·H]; all three with their rows in <see cref="Layout"/>'s
/// order (time-major, or part-major for a small model's batch split). An inference pass keeps one step of Saved, and
/// of Cs (and of Hs, where the output is a buffer of its own) only the steps in flight and the last.
/// </summary>
/// <remarks>
/// With per-sequence lengths (right padding: sequence b has real steps 0 … lengths[b]−1), Hs and Cs stay the
/// <em>states</em>: at a padded step t ≥ lengths[b] row b carries h_{t−1}, c_{t−1} unchanged, so Hs[T], Cs[T] are
/// each sequence's state at its last real step, as with PyTorch's <c>pack_padded_sequence</c>. The output
/// sequence is then a separate buffer equal to Hs[1..] with the padded rows zero. Without lengths (or when every
/// length is T) there is no separate buffer and the output is Hs[1..] itself.
/// </remarks>
public sealed class RecurrentLayerCache<T> where T : struct
{
    private readonly T[]? _output;

    internal RecurrentLayerCache(StepLayout layout, int hidden, bool hasCellState, int savedWidth, ReadOnlyMemory<T> input,
        int[] lengths, bool keepForBackward, ReadOnlySpan<T> h0, ReadOnlySpan<T> c0, bool outputToCaller)
    {
        OutputToCaller = outputToCaller;
        (Layout, Steps, Batch, Hidden, KeptForBackward) = (layout, layout.Steps, layout.Batch, hidden, keepForBackward);
        int steps = layout.Steps, batch = layout.Batch;
        Input = input;
        Lengths = lengths;
        // Masked sequences and part-major states need an output of their own (time-major, padded steps zero), unless
        // it goes to the caller's batch-major buffer.
        bool separateOutput = !outputToCaller && (lengths.Length != 0 || layout.PartMajor);
        _output = separateOutput ? Workspace.AllocateUninitialized<T>(steps * batch * hidden) : null;
        // Inference reads c_{t−1} once, at step t, and hands on only c_T: a ring of two steps and the final one serves
        // (config b's inference held 13 MB of cell states where 0.4 MB serve). So does h where the output is not Hs
        // itself (the forward pass then writes each step's output as it goes).
        var ring = !keepForBackward && steps > 2 ? new StepLayout(2, batch, layout.Parts, layout.PartMajor) : null;
        _stateRing = outputToCaller || separateOutput ? ring : null;
        _cellRing = ring;
        // The forward pass writes steps 1 … T, each row on the thread that owns it; only the initial states are
        // set here. Clearing all of it on the calling thread (13 MB per layer of config b) took that long and then
        // made every other thread fetch its rows from this core's cache.
        Hs = Workspace.AllocateUninitialized<T>(((_stateRing is null ? steps : 2) + 1) * batch * hidden);
        (_stateRing ?? layout).SetStep(0, hidden, h0, Hs);
        Cs = hasCellState ? Workspace.AllocateUninitialized<T>(((_cellRing is null ? steps : 2) + 1) * batch * hidden) : [];
        if (hasCellState) (_cellRing ?? layout).SetStep(0, hidden, c0, Cs);
        // Every step's cell writes its rows; inference keeps one step's worth, overwritten each step.
        Saved = Workspace.AllocateUninitialized<T>((keepForBackward ? steps : 1) * batch * savedWidth * hidden);
    }

    /// <summary>Where each step of each sequence sits in <see cref="Hs"/>, <see cref="Cs"/> and <see cref="Saved"/>.</summary>
    internal StepLayout Layout { get; }

    public int Steps { get; }
    public int Batch { get; }
    public int Hidden { get; }

    /// <summary>
    /// Whether <see cref="Saved"/> holds every step ([T, B, S·H]), as the backward pass and the saturation measure
    /// need; an inference pass keeps only the last step's [B, S·H].
    /// </summary>
    public bool KeptForBackward { get; }

    /// <summary>The layer's input x: [T, B, I] (a reference, not a copy).</summary>
    public ReadOnlyMemory<T> Input { get; }

    /// <summary>
    /// Real steps of each sequence: [B], every value in 0 … T; empty when every sequence has all T steps (no
    /// masking).
    /// </summary>
    public ReadOnlyMemory<int> Lengths { get; }

    /// <summary>Whether step <paramref name="step"/> of sequence <paramref name="sequence"/> is padding.</summary>
    public bool IsPadded(int step, int sequence) => Lengths.Length != 0 && step >= Lengths.Span[sequence];

    /// <summary>
    /// States h_0 … h_T (carried through padded steps): [T+1, B, H] rows in <see cref="Layout"/>'s order (time-major
    /// unless the batch split is part-major); the final states h_T are the last [B, H] in either. An inference pass
    /// whose output is a buffer of its own keeps a ring of h_{t−1} and h_t and the final h_T (see <see cref="HiddenRow"/>).
    /// </summary>
    internal T[] Hs { get; }

    /// <summary>The ring <see cref="Hs"/> is laid out in for inference (see <see cref="Hs"/>); null when every step is kept.</summary>
    private readonly StepLayout? _stateRing;

    /// <summary>Whether <see cref="Hs"/> holds only the steps in flight and the last, so the forward pass writes each step's output as it goes.</summary>
    internal bool StatesInRing => _stateRing is not null;

    /// <summary>Row of h_t (t = 0 … T) of the first sequence of the part [r0, r0 + n) in <see cref="Hs"/>; its n rows follow it.</summary>
    internal int HiddenRow(int t, int r0, int n) => RowIn(_stateRing, t, r0, n);

    /// <summary>
    /// Cell states c_0 … c_T, as <see cref="Hs"/>, when kept for backward; an inference pass keeps a ring of c_{t−1}
    /// and c_t and the final c_T (see <see cref="CellRow"/>). Empty without cell state.
    /// </summary>
    internal T[] Cs { get; }

    /// <summary>The ring <see cref="Cs"/> is laid out in for inference (steps 0, 1 and final 2); null when every step is kept.</summary>
    private readonly StepLayout? _cellRing;

    /// <summary>Row of c_t (t = 0 … T) of the first sequence of the part [r0, r0 + n) in <see cref="Cs"/>; its n rows follow it.</summary>
    internal int CellRow(int t, int r0, int n) => RowIn(_cellRing, t, r0, n);

    /// <summary>Row of step t (0 … T) of the part [r0, r0 + n) in a buffer of every step, or in a ring of steps t mod 2 and the final one.</summary>
    private int RowIn(StepLayout? ring, int t, int r0, int n) => ring is null ? Layout.Row(t, r0, n) : ring.Row(t == Steps ? 2 : t % 2, r0, n);

    /// <summary>Row of step t of sequence b in a buffer of every step or in a ring, which holds only the final step of those read from outside.</summary>
    private int RowIn(StepLayout? ring, int t, int b, string what)
    {
        if (ring is null) return Layout.Row(t, b);
        if (t != Steps) throw new InvalidOperationException($"an inference pass keeps only the final {what} (step {Steps}); step {t} was asked for.");
        return ring.Row(2, b);
    }

    /// <summary>The cell's saved values: [T, B, S·H] rows in <see cref="Layout"/>'s order ([B, S·H] for inference).</summary>
    internal T[] Saved { get; }

    /// <summary>State h_t of sequence b: [H] (t = 0 … T; an inference pass whose output is a buffer of its own keeps only t = T).</summary>
    public ReadOnlySpan<T> HiddenAt(int t, int b) => Hs.AsSpan(RowIn(_stateRing, t, b, "hidden state") * Hidden, Hidden);

    /// <summary>
    /// Cell state c_t of sequence b: [H] (t = 0 … T; an inference pass keeps only t = T); empty without cell state.
    /// </summary>
    public ReadOnlySpan<T> CellAt(int t, int b) => Cs.Length == 0 ? [] : Cs.AsSpan(RowIn(_cellRing, t, b, "cell state") * Hidden, Hidden);

    /// <summary>
    /// Output sequence h_1 … h_T: [T, B, H], exactly zero at padded steps; not held when the forward pass wrote it to the
    /// caller's batch-major buffer instead.
    /// </summary>
    public ReadOnlyMemory<T> Output => OutputToCaller
        ? throw new InvalidOperationException("this forward pass wrote its output to the caller's batch-major buffer; the cache holds none.")
        : _output ?? Hs.AsMemory(Batch * Hidden);

    /// <summary>Whether the forward pass wrote the output sequence to the caller's [B, T, H] buffer (see <see cref="Output"/>).</summary>
    internal bool OutputToCaller { get; }

    /// <summary>The separate output buffer the forward pass fills (masked sequences or part-major states), else null.</summary>
    internal T[]? SeparateOutput => _output;

    /// <summary>The regularisation this forward pass ran with (masks included); null for none.</summary>
    public RecurrentLayerOptions<T>? Options { get; internal set; }

    internal T[]? MaskedStates { get; set; }

    /// <summary>
    /// What the recurrent product read at each step: [T, B, H] rows in <see cref="Layout"/>'s order, step t = h_t ⊙ m
    /// with recurrent dropout's mask m (the same m at every step), else h_0 … h_{T−1} themselves.
    /// </summary>
    internal ReadOnlyMemory<T> RecurrentInput => MaskedStates ?? Hs.AsMemory(0, Steps * Batch * Hidden);

    // Layer norm: normalised values and 1/σ of the input product [T·B, G·H], [T·B]; the recurrent product, same
    // shapes; and c (LSTM) [T·B, H], [T·B]. An inference pass keeps one step of each ([B, …]).
    internal T[] XNorm = [], XRstd = [], HNorm = [], HRstd = [], CNorm = [], CRstd = [];

    /// <summary>Each sequence's state at its last real step (h_0 for a length of 0): [B, H].</summary>
    public ReadOnlySpan<T> FinalHidden => Hs.AsSpan(HiddenRow(Steps, 0, Batch) * Hidden, Batch * Hidden);
    /// <summary>Each sequence's cell state at its last real step: [B, H]; empty without cell state.</summary>
    public ReadOnlySpan<T> FinalCell => Cs.Length == 0 ? [] : Cs.AsSpan(CellRow(Steps, 0, Batch) * Hidden, Batch * Hidden);

    private bool _released;

    /// <summary>
    /// Returns every buffer the forward pass left in this cache to the <see cref="Workspace"/> pool: the states,
    /// saved gates, masked output and states, layer-norm statistics and, with input dropout, the masked input the
    /// forward pass made (any other input belongs to the caller). Neither the cache nor anything read from it
    /// (<see cref="Output"/>, <see cref="FinalHidden"/>) may be used afterwards. A second call does nothing.
    /// </summary>
    internal void Release()
    {
        if (_released) return;
        _released = true;
        // With an input mask, Forward replaced x by a masked copy it allocated whole (see Forward).
        if (Options?.InputMask is not null && MemoryMarshal.TryGetArray(Input, out var input) && input.Array is { } owned)
            Workspace.Release(owned);
        foreach (var buffer in new[] { Hs, Cs, Saved, _output, MaskedStates, XNorm, XRstd, HNorm, HRstd, CNorm, CRstd })
            if (buffer is not null) Workspace.Release(buffer);
    }
}

/// <summary>
/// The time loop shared by every recurrent cell, for one layer and direction, time-major. The input projection
/// for all steps is one GEMM before the loop; only the recurrent product runs per step; weight gradients are
/// GEMMs over all steps after the backward loop. All buffers are allocated before the loop.
/// </summary>
public static partial class RecurrentLayerKernel<T, TCell>
    where T : struct, IFloatingPointIeee754<T>
    where TCell : IRecurrentCell
{
    /// <summary>
    /// Runs the layer over x: [T, B, I] from h0, c0: [B, H] (empty spans mean zeros; c0 ignored without cell
    /// state) and returns the cache, whose <see cref="RecurrentLayerCache{T}.Output"/> is [T, B, H].
    /// lengths: [B] real steps of each right-padded sequence, each in 0 … T; empty means every sequence has T
    /// steps. At a padded step t ≥ lengths[b] the state of sequence b is carried unchanged (h_t = h_{t−1},
    /// c_t = c_{t−1}) and its output is zero, as PyTorch's <c>pack_padded_sequence</c>; only those rows are fixed
    /// up after each cell step. <paramref name="options"/>: input and recurrent dropout masks and zoneout
    /// (<see cref="RecurrentLayerOptions{T}"/>), applied inside the loop; layer normalisation comes with the weights
    /// (<see cref="RecurrentLayerWeights{T}.LayerNorm"/>). The backward pass reads both from the cache.
    /// <paramref name="batchMajorOutput"/>: when given, [B, T, H] receives the output sequence instead of the cache,
    /// each part writing its own sequences' block (a module's output is batch-major: this spares it a transposing copy
    /// on one thread of rows the other threads wrote).
    /// </summary>
    public static RecurrentLayerCache<T> Forward(RecurrentLayerWeights<T> w, ReadOnlyMemory<T> x, int steps, int batch,
        ReadOnlySpan<T> h0, ReadOnlySpan<T> c0, ReadOnlySpan<int> lengths = default, RecurrentLayerOptions<T>? options = null,
        bool keepForBackward = true, T[]? batchMajorOutput = null)
    {
        var pass = Prepare(w, x, steps, batch, h0, c0, lengths, options, keepForBackward, batchMajorOutput, chunkSteps: 0);
        try
        {
            Engine.RunParts(pass.Parts, pass.RunPart);
        }
        catch
        {
            pass.Finish().Release(); // a fault inside a part: the pass's buffers go back to the workspace
            throw;
        }
        return pass.Finish();
    }

    /// <summary>
    /// Checks <see cref="Forward"/>'s arguments and sets up its pass: the batch split (chunkSteps 0), or a pass run
    /// chunk by chunk of that many steps by the stack's wavefront (<see cref="StackWavefront{T, TCell}"/>; no layer norm).
    /// </summary>
    internal static ForwardPass Prepare(RecurrentLayerWeights<T> w, ReadOnlyMemory<T> x, int steps, int batch,
        ReadOnlySpan<T> h0, ReadOnlySpan<T> c0, ReadOnlySpan<int> lengths, RecurrentLayerOptions<T>? options,
        bool keepForBackward, T[]? batchMajorOutput, int chunkSteps)
    {
        int I = w.InputSize, H = w.HiddenSize, BH = batch * H;
        if (x.Length != steps * batch * I)
            throw new ArgumentException($"{TCell.DisplayName} layer input must be [T={steps}, B={batch}, I={I}] = {steps * batch * I} values; found {x.Length}.", nameof(x));
        CheckState(h0, BH, "h0");
        if (TCell.HasCellState) CheckState(c0, BH, "c0");
        CheckOptions(options, steps, batch, I, H);
        if (batchMajorOutput is not null && batchMajorOutput.Length != steps * BH)
            throw new ArgumentException($"{TCell.DisplayName} batch-major output must hold [B={batch}, T={steps}, H={H}] = {steps * BH} values; found {batchMajorOutput.Length}.", nameof(batchMajorOutput));
        if (w.LayerNorm is not null && TCell.HasCellState && typeof(TCell) != typeof(LstmCell))
            throw new NotSupportedException($"layer normalisation of the cell state is implemented for LSTM only, not {TCell.DisplayName}.");
        if (chunkSteps > 0 && w.LayerNorm is not null)
            throw new ArgumentException("a chunked forward pass cannot normalise the input projection, whose statistics run over all steps first.", nameof(chunkSteps));

        int[] mask = CheckLengths(lengths, steps, batch);

        // Variational input dropout: the same mask [B, I] at every step; the cache keeps the masked input, which a chunked
        // pass masks chunk by chunk (the layer below writes its input as the pass runs).
        T[]? masked = options?.InputMask is null ? null : Workspace.Allocate<T>(x.Length); // held by the cache, as Hs
        if (masked is not null && chunkSteps == 0) MaskInput(x.Span, options!.InputMask!, masked, batch, I, 0, steps * batch);
        return new ForwardPass(w, x, masked, steps, batch, h0, c0, mask, options, keepForBackward, batchMajorOutput, chunkSteps);
    }

    /// <summary>
    /// Rows [row0, row0 + rows) of x [T·B, I] times the input mask [B, I] of each row's sequence, into the same rows of
    /// masked: one product per run of rows within a step (a whole step at a time for the batch split).
    /// </summary>
    private static void MaskInput(ReadOnlySpan<T> x, ReadOnlySpan<T> inputMask, Span<T> masked, int batch, int input, int row0, int rows)
    {
        for (int r = row0, end = row0 + rows; r < end;)
        {
            int b = r % batch, n = Math.Min(end - r, batch - b);
            TensorPrimitives.Multiply(x.Slice(r * input, n * input), inputMask.Slice(b * input, n * input), masked.Slice(r * input, n * input));
            r += n;
        }
    }

    /// <summary>
    /// Backward through the layer. dOutput: [T, B, H], or [B, T, H] with <paramref name="dOutputBatchMajor"/> (empty =
    /// no gradient on the sequence), dhT, dcT: [B, H]
    /// (empty = none). Adds into <paramref name="grads"/> (its <see cref="RecurrentLayerWeights{T}.LayerNorm"/>
    /// too, which must be set when the weights have one) and, when not empty, into dx: [T, B, I]; writes
    /// dh0, dc0: [B, H] when not empty, and ‖dL/dh_t‖ over the batch into stepGradientNorms: [T] when not empty.
    /// </summary>
    /// <remarks>
    /// With the forward pass's lengths, a padded step contributes nothing: its gate gradients are zero (so no weight
    /// or input gradient), dOutput there is ignored (the output was a constant zero), and dL/dh, dL/dc pass through
    /// the carried state unchanged. The forward pass's options (masks, zoneout) are read from the cache.
    /// </remarks>
    public static void Backward(RecurrentLayerWeights<T> w, RecurrentLayerCache<T> cache,
        ReadOnlySpan<T> dOutput, ReadOnlySpan<T> dhT, ReadOnlySpan<T> dcT,
        RecurrentLayerWeights<T> grads, Span<T> dx, Span<T> dh0, Span<T> dc0, Span<double> stepGradientNorms = default,
        bool dOutputBatchMajor = false)
    {
        int steps = cache.Steps, batch = cache.Batch;
        int I = w.InputSize, H = w.HiddenSize, GH = TCell.GateCount * H, BH = batch * H, rows = steps * batch;
        if (!cache.KeptForBackward)
            throw new InvalidOperationException($"{TCell.DisplayName} backward needs a forward pass run with keepForBackward (every step's gate values); this one kept only the last step.");
        CheckState(dOutput, steps * BH, "dOutput");
        CheckState(dhT, BH, "dhT");
        CheckState(dcT, BH, "dcT");
        var mask = cache.Lengths.Span;
        var options = cache.Options;
        var ln = w.LayerNorm;
        var dln = grads.LayerNorm;
        if (ln is not null && dln is null)
            throw new ArgumentException($"{TCell.DisplayName} weights are layer-normalised, so the gradients need LayerNorm arrays too (see ZerosLike).", nameof(grads));
        bool lnCell = ln is not null && TCell.HasCellState;

        // dL/d(xGates) and dL/d(hGates) for all steps: [T, B, G·H]
        var dXGates = Workspace.AllocateUninitialized<T>(rows * GH); // every step's cell backward overwrites its rows
        var dHGates = TCell.SharesGateGradient ? dXGates : Workspace.AllocateUninitialized<T>(rows * GH);
        // Layer norm: dL/d(h·W_hhᵀ) before normalisation, which the recurrent product's gradients read.
        var dHRaw = ln is null ? dHGates : Workspace.Allocate<T>(rows * GH);
        bool zoneout = options is { HasZoneout: true };
        T zoneScalar = T.CreateChecked(options?.Zoneout ?? 0);
        // Temporaries released at the end: each distinct buffer once (aliases are not listed twice).
        var temporaries = new List<T[]> { dXGates };
        if (!TCell.SharesGateGradient) temporaries.Add(dHGates);
        if (ln is not null) temporaries.Add(dHRaw);
        var recurrentMask = options?.RecurrentMask;
        // W_hh [G·H, H] packed once for every step's dh_{t−1} += dHGates_t·W_hh (float32).
        var packedRecurrent = steps > 1 ? PackRecurrent(w, transpose: false) : null;

        int S = TCell.SavedWidth;
        var layout = cache.Layout;
        int parts = layout.Parts;
        // A small model (the size that splits part-major) reads a batch-major dOutput in place, row by row: a part's
        // sequences are one block of it. A larger one reads it transposed first, one [n, H] block per step: row by row,
        // its rows of 1 KB or more a whole sequence apart, config c's training step took 2–7% longer.
        if (dOutputBatchMajor && !dOutput.IsEmpty && !PartMajor(H))
        {
            var transposed = Layout.SwapLeadingAxes(dOutput, batch, steps, H);
            temporaries.Add(transposed);
            dOutput = transposed;
            dOutputBatchMajor = false;
        }
        // Per part: Σ‖dL/dh_t‖² over its rows [parts, T], and its own layer-norm gain/bias gradients (summed in part
        // order after the loop, so the result does not depend on scheduling).
        var squaredNorms = stepGradientNorms.IsEmpty ? [] : new double[parts * steps];
        var partNorms = parts == 1 || dln is null ? null
            : Enumerable.Range(0, parts).Select(_ => new RecurrentLayerNorm<T>(GH, dln.CellGain.Length)).ToArray();
        if (!dx.IsEmpty) CheckState(dx, rows * I, "dx");
        var partGradients = layout.PartMajor
            ? Enumerable.Range(0, parts).Select(_ => new RecurrentLayerWeights<T>(TCell.GateCount, I, H, Workspace.Allocate<T>(GH * I),
                Workspace.Allocate<T>(GH * H), Workspace.Allocate<T>(GH), Workspace.Allocate<T>(GH))).ToArray()
            : null;
        // Each part's own buffers, zeroed: [n, H] gradients (dL/dh and dL/dc of the next and previous step, dL/dh_t in
        // all, the cell's share under zoneout, the masked product under recurrent dropout) and, part-major, its x rows
        // [T, n, I] followed by [G·H] for its bias sums. Allocated here, on the calling thread, which the workspace meter
        // follows (see Workspace.Measure): [n·widthPerSequence + extra] each, or empty when not needed.
        T[][] PerPart(int widthPerSequence, int extra = 0, bool needed = true) =>
            Enumerable.Range(0, parts).Select(p => needed ? Workspace.Allocate<T>(layout.PartSize(p) * widthPerSequence + extra) : []).ToArray();
        var (dhNextOf, dcNextOf, dhTotalOf, dhPrevOf, dcPrevOf) = (PerPart(H), PerPart(H), PerPart(H), PerPart(H), PerPart(H));
        var (dhCellOf, dcCellOf, dhMaskedOf) = (PerPart(H, needed: zoneout), PerPart(H, needed: zoneout), PerPart(H, needed: recurrentMask is not null));
        var inputOf = PerPart(steps * I, GH, partGradients is not null);

        // The backward time loop over rows [r0, r0 + n) (part p): as the forward pass, each part runs every step on
        // its own rows, with [n, H] gradient buffers of its own. dhT, dcT, dOutput: time-major, as given; dh0, dc0
        // receive the part's rows.
        void BackwardRows(int part, int r0, int n, ReadOnlySpan<T> dOutput, ReadOnlySpan<T> dhT, ReadOnlySpan<T> dcT, Span<T> dh0, Span<T> dc0, Span<T> dx)
        {
            int rowH = r0 * H, nH = n * H, nGH = n * GH;
            int At(int t, int width) => layout.Row(t, r0, n) * width;
            var dlnPart = partNorms?[part] ?? dln;
            var rowLengths = cache.Lengths.Length == 0 ? [] : cache.Lengths.Span.Slice(r0, n);
            T[] dhNext = dhNextOf[part], dcNext = dcNextOf[part], dhTotal = dhTotalOf[part], dhPrev = dhPrevOf[part], dcPrev = dcPrevOf[part];
            var dhCell = zoneout ? dhCellOf[part] : dhTotal;
            var dcCell = zoneout ? dcCellOf[part] : dcNext;
            var dhMasked = dhMaskedOf[part];
            if (!dhT.IsEmpty) dhT.Slice(rowH, nH).CopyTo(dhNext);
            if (!dcT.IsEmpty) dcT.Slice(rowH, nH).CopyTo(dcNext);
            for (int t = steps - 1; t >= 0; t--)
            {
                // h_t feeds the output sequence and step t+1
                if (dOutput.IsEmpty) dhNext.CopyTo(dhTotal.AsSpan());
                else if (!dOutputBatchMajor) TensorPrimitives.Add(dOutput.Slice(t * BH + rowH, nH), dhNext, dhTotal);
                else
                    for (int b = 0; b < n; b++)
                        TensorPrimitives.Add(dOutput.Slice(((r0 + b) * steps + t) * H, H), dhNext.AsSpan(b * H, H), dhTotal.AsSpan(b * H, H));
                for (int b = 0; b < rowLengths.Length; b++)
                    if (t >= rowLengths[b]) dhNext.AsSpan(b * H, H).CopyTo(dhTotal.AsSpan(b * H, H)); // padded output was a constant 0
                if (squaredNorms.Length > 0) squaredNorms[part * steps + t] = double.CreateTruncating(TensorPrimitives.SumOfSquares<T>(dhTotal));
                if (zoneout)
                {
                    // h_t = ζ ⊙ h_{t−1} + (1 − ζ) ⊙ h̃_t: the cell's update gets (1 − ζ) of the gradient (masks time-major, as given)
                    Unzone(dhTotal, MaskRows(options!.ZoneoutHidden, t * BH + rowH, nH), zoneScalar, dhCell);
                    if (TCell.HasCellState) Unzone(dcNext, MaskRows(options.ZoneoutCell, t * BH + rowH, nH), zoneScalar, dcCell);
                }
                var saved = cache.Saved.AsSpan(At(t, S * H), n * S * H);
                var dXGatesR = dXGates.AsSpan(At(t, GH), nGH);
                var dHGatesR = dHGates.AsSpan(At(t, GH), nGH);
                if (lnCell)
                    LstmCell.BackwardLayerNorm<T>(n, H, saved, CellRows(cache.Cs, At(t, H), nH), dhCell, dcCell,
                        cache.CNorm.AsSpan(At(t, H), nH), cache.CRstd.AsSpan(At(t, 1), n), ln!.CellGain,
                        dXGatesR, dhPrev, dcPrev, dlnPart!.CellGain, dlnPart.CellBias, rowLengths, t);
                else
                    TCell.Backward<T>(n, H, saved, cache.Hs.AsSpan(At(t, H), nH), CellRows(cache.Cs, At(t, H), nH),
                        dhCell, dcCell, dXGatesR, dHGatesR, dhPrev, dcPrev);
                if (zoneout)
                {
                    // … and ζ of it reaches the previous state directly.
                    AddZoned(dhTotal, MaskRows(options!.ZoneoutHidden, t * BH + rowH, nH), zoneScalar, dhPrev);
                    if (TCell.HasCellState) AddZoned(dcNext, MaskRows(options.ZoneoutCell, t * BH + rowH, nH), zoneScalar, dcPrev);
                }
                // Padded rows: no gate gradients; dL/dh and dL/dc reach the previous state unchanged (identity carry).
                for (int b = 0; b < rowLengths.Length; b++)
                {
                    if (t < rowLengths[b]) continue;
                    dXGatesR.Slice(b * GH, GH).Clear();
                    if (!TCell.SharesGateGradient) dHGatesR.Slice(b * GH, GH).Clear();
                    dhTotal.AsSpan(b * H, H).CopyTo(dhPrev.AsSpan(b * H, H));
                    if (TCell.HasCellState) dcNext.AsSpan(b * H, H).CopyTo(dcPrev.AsSpan(b * H, H));
                }
                var dHRawR = dHRaw.AsSpan(At(t, GH), nGH);
                if (ln is not null)
                    RowLayerNorm<T>.Backward(n, GH, dHGatesR, cache.HNorm.AsSpan(At(t, GH), nGH),
                        cache.HRstd.AsSpan(At(t, 1), n), ln.RecurrentGain, dHRawR, dlnPart!.RecurrentGain, dlnPart.RecurrentBias);
                // hGates = h_{t−1}·W_hhᵀ  ⇒  dh_{t−1} += dHGates_t·W_hh  (recurrent dropout: ⊙ m); dh_0 only when asked for
                bool toPrevious = t > 0 || !dh0.IsEmpty;
                if (toPrevious && recurrentMask is null)
                    RecurrentProduct(packedRecurrent, n, H, GH, dHRawR, w.RecurrentWeights, dhPrev, accumulate: true);
                else if (toPrevious)
                {
                    RecurrentProduct(packedRecurrent, n, H, GH, dHRawR, w.RecurrentWeights, dhMasked, accumulate: false);
                    TensorPrimitives.FusedMultiplyAdd(dhMasked, recurrentMask!.AsSpan(rowH, nH), dhPrev, dhPrev);
                }
                (dhNext, dhPrev) = (dhPrev, dhNext);
                (dcNext, dcPrev) = (dcPrev, dcNext);
                if (!zoneout) (dhCell, dcCell) = (dhTotal, dcNext);
            }
            if (!dh0.IsEmpty) dhNext.CopyTo(dh0.Slice(rowH, nH));
            if (!dc0.IsEmpty && TCell.HasCellState) dcNext.CopyTo(dc0.Slice(rowH, nH));
            if (partGradients is not null) PartProducts(partGradients[part], inputOf[part], r0, n, dx);
        }

        // Part-major: the products over all steps run per part, on the rows its thread wrote, into gradients of its own
        // (added in part order after the loop); dx's rows of the part are written here too. Layer norm is never
        // part-major.
        void PartProducts(RecurrentLayerWeights<T> into, T[] input, int r0, int n, Span<T> dx)
        {
            int partRows = steps * n, first = layout.Row(0, r0, n);
            var source = cache.Input.Span;
            // input: the part's x in its own order, [T, n, I], then [G·H] of scratch
            for (int t = 0; t < steps; t++) source.Slice((t * batch + r0) * I, n * I).CopyTo(input.AsSpan(t * n * I, n * I));
            var dX = dXGates.AsSpan(first * GH, partRows * GH);
            AddProductGradients(partRows, I, H, dX, dHGates.AsSpan(first * GH, partRows * GH), ReferenceEquals(dXGates, dHGates),
                input.AsSpan(0, partRows * I), cache.RecurrentInput.Span.Slice(first * H, partRows * H), into, input.AsSpan(partRows * I, GH));
            if (!dx.IsEmpty)
            {
                // dx += dXGates·W_ih, as the time-major path, row by row of the part (⊙ the input mask of each sequence)
                Gemm.Multiply<T>(false, false, partRows, I, GH, dX, w.InputWeights, input.AsSpan(0, partRows * I), accumulate: false);
                var inputMask = options?.InputMask;
                for (int t = 0; t < steps; t++)
                {
                    var rows = dx.Slice((t * batch + r0) * I, n * I);
                    if (inputMask is null) TensorPrimitives.Add(input.AsSpan(t * n * I, n * I), rows, rows);
                    else TensorPrimitives.FusedMultiplyAdd(input.AsSpan(t * n * I, n * I), inputMask.AsSpan(r0 * I, n * I), rows, rows);
                }
            }
        }

        if (parts == 1) BackwardRows(0, 0, batch, dOutput, dhT, dcT, dh0, dc0, dx);
        else
            unsafe
            {
                // The parts read and write the caller's spans from other threads: pinned, so the views each builds stay valid.
                fixed (byte* pOutput = MemoryMarshal.AsBytes(dOutput), pHT = MemoryMarshal.AsBytes(dhT), pCT = MemoryMarshal.AsBytes(dcT),
                       pH0 = MemoryMarshal.AsBytes(dh0), pC0 = MemoryMarshal.AsBytes(dc0), pX = MemoryMarshal.AsBytes(dx))
                {
                    var (output, hT, cT, h0, c0, dX) = ((nint)pOutput, (nint)pHT, (nint)pCT, (nint)pH0, (nint)pC0, (nint)pX);
                    var (outputLength, hTLength, cTLength, h0Length, c0Length, dXLength) = (dOutput.Length, dhT.Length, dcT.Length, dh0.Length, dc0.Length, dx.Length);
                    Engine.RunParts(parts, p => BackwardRows(p, layout.PartStart(p), layout.PartSize(p),
                        new ReadOnlySpan<T>((void*)output, outputLength), new ReadOnlySpan<T>((void*)hT, hTLength), new ReadOnlySpan<T>((void*)cT, cTLength),
                        new Span<T>((void*)h0, h0Length), new Span<T>((void*)c0, c0Length), new Span<T>((void*)dX, dXLength)));
                }
            }
        foreach (var buffers in new[] { dhNextOf, dcNextOf, dhTotalOf, dhPrevOf, dcPrevOf, dhCellOf, dcCellOf, dhMaskedOf, inputOf })
            foreach (var buffer in buffers) Workspace.Release(buffer);
        if (partNorms is not null)
            foreach (var part in partNorms)
            {
                TensorPrimitives.Add(dln!.RecurrentGain, part.RecurrentGain, dln.RecurrentGain);
                TensorPrimitives.Add(dln.RecurrentBias, part.RecurrentBias, dln.RecurrentBias);
                TensorPrimitives.Add(dln.CellGain, part.CellGain, dln.CellGain);
                TensorPrimitives.Add(dln.CellBias, part.CellBias, dln.CellBias);
            }
        for (int t = 0; t < stepGradientNorms.Length; t++)
        {
            double sum = 0;
            for (int p = 0; p < parts; p++) sum += squaredNorms[p * steps + t];
            stepGradientNorms[t] = Math.Sqrt(sum);
        }
        ReleasePacked(packedRecurrent);
        if (partGradients is not null)
        {
            foreach (var part in partGradients)
                foreach (var (sum, partial) in new[] { (grads.InputWeights, part.InputWeights), (grads.RecurrentWeights, part.RecurrentWeights),
                    (grads.InputBias, part.InputBias), (grads.RecurrentBias, part.RecurrentBias) })
                {
                    TensorPrimitives.Add(sum, partial, sum);
                    Workspace.Release(partial);
                }
            foreach (var buffer in temporaries) Workspace.Release(buffer);
            return;
        }

        // Layer norm: dL/d(x·W_ihᵀ) before normalisation, for all steps at once.
        var dXRaw = dXGates;
        if (ln is not null)
        {
            dXRaw = Workspace.Allocate<T>(rows * GH);
            temporaries.Add(dXRaw);
            RowLayerNorm<T>.Backward(rows, GH, dXGates, cache.XNorm, cache.XRstd, ln.InputGain, dXRaw, dln!.InputGain, dln.InputBias);
        }
        // Weight gradients over all steps at once.
        // dW_ih += dXGatesᵀ·x: [G·H, T·B]·[T·B, I];  dW_hh += dHGatesᵀ·h_{0..T−1}: [G·H, T·B]·[T·B, H]
        // Layer norm's biases follow the normalisation, so their sums run over the normalised gradients in passes of
        // their own.
        var input = cache.Input.Span;
        if (ln is null)
        {
            var sums = Workspace.AllocateUninitialized<T>(GH); // the products overwrite it
            AddProductGradients(rows, I, H, dXRaw, dHRaw, ReferenceEquals(dXGates, dHGates), input, cache.RecurrentInput.Span, grads, sums);
            Workspace.Release(sums);
        }
        else
        {
            Gemm.Multiply<T>(true, false, GH, I, rows, dXRaw, input, grads.InputWeights, accumulate: true);
            Gemm.Multiply<T>(true, false, GH, H, rows, dHRaw, cache.RecurrentInput.Span, grads.RecurrentWeights, accumulate: true);
            if (ReferenceEquals(dXGates, dHGates)) AddBiasGradients(dXGates, GH, grads.InputBias, grads.RecurrentBias);
            else
            {
                AddBiasGradients(dXGates, GH, grads.InputBias, null);
                AddBiasGradients(dHGates, GH, grads.RecurrentBias, null);
            }
        }
        // dx += dXGates·W_ih: [T·B, G·H]·[G·H, I]  (input dropout: ⊙ the mask of each sequence)
        if (!dx.IsEmpty)
        {
            if (options?.InputMask is not { } inputMask)
                Gemm.Multiply<T>(false, false, rows, I, GH, dXRaw, w.InputWeights, dx, accumulate: true);
            else
            {
                var dMasked = Workspace.Allocate<T>(rows * I);
                Gemm.Multiply<T>(false, false, rows, I, GH, dXRaw, w.InputWeights, dMasked, accumulate: false);
                for (int t = 0; t < steps; t++)
                    TensorPrimitives.FusedMultiplyAdd(dMasked.AsSpan(t * batch * I, batch * I), inputMask, dx.Slice(t * batch * I, batch * I), dx.Slice(t * batch * I, batch * I));
                Workspace.Release(dMasked);
            }
        }
        foreach (var buffer in temporaries) Workspace.Release(buffer);
    }

    /// <summary>
    /// into's weight gradients += the products over <paramref name="rows"/> rows of gate gradients (no layer norm):
    /// dW_ih += dXᵀ·x: [G·H, rows]·[rows, I]; dW_hh += dHᵀ·hIn: [G·H, rows]·[rows, H], hIn what the recurrent
    /// product read. The bias gradients are the column sums of the same gate gradients, summed by the products as they
    /// read them (db_hh = db_ih when the cell's two gate gradients are one, <paramref name="shared"/>), into
    /// <paramref name="sums"/>: [G·H] scratch.
    /// </summary>
    private static void AddProductGradients(int rows, int I, int H, ReadOnlySpan<T> dX, ReadOnlySpan<T> dH, bool shared,
        ReadOnlySpan<T> x, ReadOnlySpan<T> hIn, RecurrentLayerWeights<T> into, Span<T> sums)
    {
        int GH = TCell.GateCount * H;
        if (shared) Gemm.Multiply<T>(true, false, GH, I, rows, dX, x, into.InputWeights, accumulate: true);
        else
        {
            Gemm.MultiplySummingRows<T>(true, false, GH, I, rows, dX, x, into.InputWeights, accumulate: true, sums);
            TensorPrimitives.Add(into.InputBias, sums, into.InputBias);
        }
        Gemm.MultiplySummingRows<T>(true, false, GH, H, rows, dH, hIn, into.RecurrentWeights, accumulate: true, sums);
        TensorPrimitives.Add(into.RecurrentBias, sums, into.RecurrentBias);
        if (shared) TensorPrimitives.Add(into.InputBias, sums, into.InputBias);
    }

    /// <summary>
    /// float32: W_hh packed for the per-step product (op(B) = W_hhᵀ [H, G·H] when <paramref name="transpose"/>, else
    /// W_hh [G·H, H]), counted as workspace; other number types: null (the reference product runs unpacked).
    /// </summary>
    private static PackedMatrix? PackRecurrent(RecurrentLayerWeights<T> w, bool transpose)
    {
        if (typeof(T) != typeof(float)) return null;
        int H = w.HiddenSize, GH = TCell.GateCount * H;
        var weights = MemoryMarshal.Cast<T, float>(w.RecurrentWeights.AsSpan());
        var packed = transpose ? GemmSimd.PackB(true, H, GH, weights, H) : GemmSimd.PackB(false, GH, H, weights, H);
        Workspace.Count<float>(packed.Length);
        return packed;
    }

    /// <summary>
    /// Largest W_ih (bytes) whose input projection may run one step at a time inside the time loop instead of as
    /// one product over all steps before it: each part's [n, I]·W_ihᵀ lands in a [B, G·H] buffer that stays in cache
    /// for the cell, where the all-steps product writes [T·B, G·H] to memory and the loop reads it back (26 MB per
    /// layer of config b; its inference got 11% faster). A larger W_ih would be read once per step by every thread.
    /// </summary>
    internal const long PerStepInputWeightBytes = 4L << 20;

    /// <summary>
    /// Fewest flops of one part's per-step input product (2·n·I·G·H) worth a call of their own each step: config a's
    /// [16, 8]·[8, 256] made its training step 12% slower than the all-steps product.
    /// </summary>
    internal const double MinStepInputFlops = 1e6;

    /// <summary>Tests force one input-projection path (null: chosen by shape); both give the same bits.</summary>
    internal static bool? InputProjectionPerStep;

    /// <summary>
    /// Whether the forward pass projects the input step by step (float32; see <see cref="PerStepInputWeightBytes"/>
    /// and <see cref="MinStepInputFlops"/>). Both paths give the same bits: every element is the same chain of
    /// multiply-adds over the same K blocks of I.
    /// </summary>
    internal static bool ProjectsInputPerStep(int input, int hidden, int rowsPerPart)
    {
        if (typeof(T) != typeof(float)) return false;
        if (InputProjectionPerStep is { } forced) return forced;
        long gates = (long)TCell.GateCount * hidden;
        return gates * input * Unsafe.SizeOf<T>() <= PerStepInputWeightBytes && 2.0 * rowsPerPart * input * gates >= MinStepInputFlops;
    }

    /// <summary>
    /// Whether a forward pass split into <paramref name="parts"/> by sequences projects the input of all steps per part
    /// (float32, no layer norm, whose statistics run over whole rows of all steps first) rather than as one product
    /// before the loop: that product ran on the calling thread (config a's [1600, 8]·[8, 256] is too shallow to
    /// split), and the other thread then read its rows from that core and wrote the same rows of the gate gradients
    /// there; the shared buffer's lines moved between the cores at every step. Per part the rows stay with one core:
    /// the product took 60 µs on one thread but 170–200 µs inside a two-thread training step, and config a's step went
    /// from 1.53 to 1.47 ms (means of five alternating runs). Both paths give the same bits (the per-step product's).
    /// </summary>
    internal static bool ProjectsInputPerPart(int parts, bool layerNorm) => parts > 1 && !layerNorm && typeof(T) == typeof(float);

    /// <summary>W_ihᵀ: [I, G·H] packed for the per-step input projection (float32), counted in the workspace.</summary>
    private static PackedMatrix PackInput(RecurrentLayerWeights<T> w)
    {
        var packed = GemmSimd.PackB(true, w.InputSize, TCell.GateCount * w.HiddenSize, MemoryMarshal.Cast<T, float>(w.InputWeights.AsSpan()), w.InputSize);
        Workspace.Count<float>(packed.Length);
        return packed;
    }

    /// <summary>Gives back what <see cref="PackRecurrent"/> or <see cref="PackInput"/> packed (uncounting it); nothing for null.</summary>
    private static void ReleasePacked(PackedMatrix? packed)
    {
        if (packed is null) return;
        Workspace.Count<float>(-packed.Length);
        packed.Release();
    }

    /// <summary>C [M, N] (+)= A [M, K]·B̃: the packed weights when given, else Gemm over B [K, N] row-major.</summary>
    private static void RecurrentProduct(PackedMatrix? packed, int m, int n, int k, ReadOnlySpan<T> a, ReadOnlySpan<T> b,
        Span<T> c, bool accumulate)
    {
        if (packed is null) Gemm.Multiply<T>(false, false, m, n, k, a, b, c, accumulate);
        else GemmSimd.MultiplyPacked(m, MemoryMarshal.Cast<T, float>(a), k, packed, MemoryMarshal.Cast<T, float>(c), n, accumulate);
    }

    /// <summary>Elements [offset, offset + count) of a per-step mask, or empty without one.</summary>
    private static ReadOnlySpan<T> MaskRows(T[]? perStep, int offset, int count) => perStep is null ? [] : perStep.AsSpan(offset, count);

    private static Span<T> CellRows(T[] cs, int offset, int count) => cs.Length == 0 ? [] : cs.AsSpan(offset, count);

    /// <summary>Fewest sequences a part of the batch gets: fewer would leave the per-step product too small to pay for a thread.</summary>
    internal const int MinRowsPerPart = 8;

    /// <summary>Largest W_hh [G·H, H] (bytes) split by batch; a larger one is read once per step by all threads together (column split inside the GEMM).</summary>
    internal const long BatchSplitWeightBytes = 4L << 20;

    /// <summary>
    /// Parts a time-major batch split has, one per thread: each part runs the whole time loop on its own sequences, so
    /// there is no barrier per step. Only when every thread gets at least <see cref="MinRowsPerPart"/> sequences
    /// and W_hh is small enough that each thread reading all of it every step is cheaper than a per-step barrier.
    /// Time-major, no result depends on the parts (each row's arithmetic is the same, and the weight gradients are
    /// products over all rows after the loop), so they follow <see cref="Engine.Threads"/>.
    /// </summary>
    internal static int BatchParts(int batch, int hidden) =>
        SplitsByBatch(hidden) ? Math.Max(1, Math.Min(Engine.AvailableThreads, batch / MinRowsPerPart)) : 1;

    /// <summary>Whether W_hh is small enough for every thread to read all of it every step (see BatchParts).</summary>
    internal static bool SplitsByBatch(int hidden) => (long)TCell.GateCount * hidden * hidden * Unsafe.SizeOf<T>() <= BatchSplitWeightBytes;

    /// <summary>
    /// How the forward pass splits the batch and lays out its buffers. A small model (<see cref="PartMajor"/>, without
    /// layer norm) is split part-major, into parts fixed by the batch and this machine's processors
    /// (<see cref="StepLayout.Processors"/>) rather than by <see cref="Engine.Threads"/>: its weight gradients are summed
    /// per part, so fixed parts keep every result bit-identical at any thread count, and inside another kernel's part
    /// too; the threads take whole parts in turn (on one thread, config a's layer took 1.35, 1.42 and 1.45 ms forward
    /// and backward in 1, 2 and 4 parts). Any other model is split time-major into <see cref="BatchParts"/>.
    /// </summary>
    internal static StepLayout Split(int steps, int batch, int hidden, bool layerNorm)
    {
        if (layerNorm || !PartMajor(hidden) || !SplitsByBatch(hidden))
            return new StepLayout(steps, batch, BatchParts(batch, hidden), partMajor: false);
        return new StepLayout(steps, batch, Math.Max(1, Math.Min(StepLayout.Processors, batch / MinRowsPerPart)), partMajor: true);
    }

    /// <summary>Fewest gate gradients (T·B·G·H) whose bias sums are split over threads by columns.</summary>
    internal const int MinBiasGradientsToSplit = 1 << 20;

    /// <summary>
    /// sums[j] (and also[j], when given) += Σ_r dGates[r, j] over the rows of dGates [R, width], rows added in order.
    /// One pass feeds both biases of a cell whose two gate gradients are the same (LSTM, RNN). Large ones are split
    /// by column ranges over the threads: each column is still summed over the rows in order, so the bits do not
    /// depend on the split.
    /// </summary>
    internal static void AddBiasGradients(T[] dGates, int width, T[] sums, T[]? also)
    {
        int parts = dGates.Length < MinBiasGradientsToSplit ? 1 : Math.Max(1, Math.Min(Engine.AvailableThreads, width / 64));
        Engine.Run(parts, p =>
        {
            int c0 = (int)((long)p * width / parts), c1 = (int)((long)(p + 1) * width / parts), n = c1 - c0;
            var into = sums.AsSpan(c0, n);
            var into2 = also is null ? default : also.AsSpan(c0, n);
            for (int start = 0; start < dGates.Length; start += width)
            {
                var row = dGates.AsSpan(start + c0, n);
                TensorPrimitives.Add(into, row, into);
                if (also is not null) TensorPrimitives.Add(into2, row, into2);
            }
        });
    }

    /// <summary>Fewest cell units (B·H) per step worth splitting over threads: about 10 µs of one core's work.</summary>
    internal const int MinCellUnitsToSplit = 4096;

    /// <summary>
    /// Parts the cell of one step is split into when the batch is not split (see <see cref="BatchParts"/>): one per
    /// thread when the step has enough units, each part at least two rows.
    /// </summary>
    internal static int CellParts(int batch, int hidden) =>
        (long)batch * hidden < MinCellUnitsToSplit ? 1 : Math.Max(1, Math.Min(Engine.AvailableThreads, batch / 2));

    /// <summary>
    /// Largest W_hh [G·H, H] (bytes) whose batch split lays its buffers out part-major (<see cref="StepLayout"/>):
    /// small models, whose parts write a few KB of each buffer per step, each next to another core's. A larger model's
    /// parts write tens of KB per step, and part-major would cost it copies of x and dx for the weight products.
    /// </summary>
    internal const long PartMajorWeightBytes = 256L << 10;

    /// <summary>Whether a batch split of this hidden size is laid out part-major (see <see cref="PartMajorWeightBytes"/>).</summary>
    internal static bool PartMajor(int hidden) =>
        PartMajorLayout ?? (long)TCell.GateCount * hidden * hidden * Unsafe.SizeOf<float>() <= PartMajorWeightBytes;

    /// <summary>Tests and timings force one layout of a batch split (null: chosen by size).</summary>
    internal static bool? PartMajorLayout;


    /// <summary>next = ζ ⊙ prev + (1 − ζ) ⊙ next, ζ the mask or (when empty) the scalar.</summary>
    private static void Zone(Span<T> next, ReadOnlySpan<T> prev, ReadOnlySpan<T> mask, T scalar) => ZoneoutKernel<T>.Mix(next, prev, mask, scalar);

    /// <summary>into = (1 − ζ) ⊙ d.</summary>
    private static void Unzone(ReadOnlySpan<T> d, ReadOnlySpan<T> mask, T scalar, Span<T> into) => ZoneoutKernel<T>.UpdateGradient(d, mask, scalar, into);

    /// <summary>into += ζ ⊙ d.</summary>
    private static void AddZoned(ReadOnlySpan<T> d, ReadOnlySpan<T> mask, T scalar, Span<T> into) => ZoneoutKernel<T>.AddKeptGradient(d, mask, scalar, into);

    private static void CheckOptions(RecurrentLayerOptions<T>? o, int steps, int batch, int input, int hidden)
    {
        if (o is null) return;
        void Length(T[]? array, int expected, string name)
        {
            if (array is not null && array.Length != expected)
                throw new ArgumentException($"{TCell.DisplayName} {name} must hold {expected} values; found {array.Length}.", nameof(o));
        }
        Length(o.InputMask, batch * input, "input dropout mask [B, I]");
        Length(o.RecurrentMask, batch * hidden, "recurrent dropout mask [B, H]");
        Length(o.ZoneoutHidden, steps * batch * hidden, "zoneout mask of h [T, B, H]");
        Length(o.ZoneoutCell, steps * batch * hidden, "zoneout mask of c [T, B, H]");
        if (o.ZoneoutCell is not null && !TCell.HasCellState)
            throw new ArgumentException($"{TCell.DisplayName} has no cell state, but a zoneout mask for c was given.", nameof(o));
        if (!(o.Zoneout >= 0 && o.Zoneout < 1))
            throw new ArgumentException($"zoneout must be in [0, 1); found {o.Zoneout}.", nameof(o));
    }

    /// <summary>
    /// Fraction of gate activations in the saturated range, where the derivative is under 5% of its peak:
    /// σ outside [0.0125, 0.9875] (σ' = y(1−y) &lt; 0.0125), |tanh| &gt; 0.975 (1 − y² &lt; 0.05). Only real
    /// steps count: padded steps of masked sequences are skipped.
    /// </summary>
    public static double SaturatedFraction(RecurrentLayerCache<T> cache)
    {
        if (!cache.KeptForBackward)
            throw new InvalidOperationException($"{TCell.DisplayName} saturation needs a forward pass run with keepForBackward (every step's gate values).");
        int H = cache.Hidden, S = TCell.SavedWidth, G = TCell.GateCount;
        var saved = cache.Saved;
        long saturated = 0, total = 0;
        for (int t = 0; t < cache.Steps; t++)
            for (int b = 0; b < cache.Batch; b++)
            {
                if (cache.IsPadded(t, b)) continue;
                int row = cache.Layout.Row(t, b) * S * H;
                for (int g = 0; g < G; g++)
                {
                    bool tanh = TCell.TanhGates[g];
                    foreach (var v in saved.AsSpan(row + g * H, H))
                    {
                        double y = double.CreateTruncating(v);
                        if (tanh ? Math.Abs(y) > 0.975 : y < 0.0125 || y > 0.9875) saturated++;
                    }
                    total += H;
                }
            }
        return total == 0 ? 0 : (double)saturated / total;
    }

    /// <summary>
    /// Validates lengths against T and B; returns them as an array, or empty when there are none or every one is T
    /// (nothing to mask, so the unmasked path runs unchanged).
    /// </summary>
    private static int[] CheckLengths(ReadOnlySpan<int> lengths, int steps, int batch)
    {
        if (lengths.IsEmpty) return [];
        if (lengths.Length != batch)
            throw new ArgumentException($"{TCell.DisplayName} lengths must hold one length per sequence (B = {batch}); found {lengths.Length}.", nameof(lengths));
        bool anyPadded = false;
        for (int b = 0; b < batch; b++)
        {
            if (lengths[b] < 0 || lengths[b] > steps)
                throw new ArgumentException($"{TCell.DisplayName} lengths[{b}] = {lengths[b]} is outside 0 … {steps} (the number of time steps).", nameof(lengths));
            anyPadded |= lengths[b] < steps;
        }
        return anyPadded ? lengths.ToArray() : [];
    }


    private static void CheckState(ReadOnlySpan<T> state, int expected, string name)
    {
        if (!state.IsEmpty && state.Length != expected)
            throw new ArgumentException($"{TCell.DisplayName} {name} must hold {expected} values; found {state.Length}.", name);
    }
}
