using System.Numerics;
using System.Numerics.Tensors;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

public static partial class RecurrentLayerKernel<T, TCell>
    where T : struct, IFloatingPointIeee754<T>
    where TCell : IRecurrentCell
{
    /// <summary>
    /// One layer's forward pass: the buffers it sets up before the time loop, and the loop itself over rows and steps,
    /// which the batch split runs one part (a block of sequences over all steps) at a time and the stack's wavefront
    /// (<see cref="StackWavefront{T, TCell}"/>) one chunk of steps (all sequences) at a time.
    /// </summary>
    /// <remarks>
    /// Chunked, the input projection x·W_ihᵀ of each chunk is its own task (<see cref="ProjectChunk"/>), into a ring of
    /// <see cref="RingChunks"/> chunk buffers instead of one buffer for all steps: a chunk's projection may run
    /// once the layer below has written the chunk's input and this layer's loop has read the projection
    /// <see cref="RingChunks"/> chunks before it. Every element is the same product and cell arithmetic in either
    /// form, so the outputs are bit-identical to the batch split's.
    /// </remarks>
    internal sealed class ForwardPass
    {
        /// <summary>
        /// Chunk buffers of the input projection a chunked pass keeps in flight: config b's inference took 33.8–34.4 ms
        /// with 2, 3 or 4 (chunks of 8 steps, 2 MiB each); 3 leaves a chunk of slack for deeper stacks.
        /// </summary>
        internal const int RingChunks = 3;

        private readonly RecurrentLayerWeights<T> _w;
        private readonly ReadOnlyMemory<T> _x, _unmaskedInput;
        private readonly T[]? _maskedInput; // with input dropout: _x, which a chunked pass fills chunk by chunk
        private readonly int _steps, _batch, _input, _hidden, _gatesWidth;
        private readonly StepLayout _layout;
        private readonly RecurrentLayerCache<T> _cache;
        private readonly int[] _mask;
        private readonly RecurrentLayerOptions<T>? _options;
        private readonly bool _keepForBackward, _perStep, _perPart, _lnCell, _zoneout, _transposeOnce, _zeroInitialState;
        private readonly T[]? _batchMajorOutput;
        private readonly RecurrentLayerNorm<T>? _ln;
        private readonly PackedMatrix? _packedInput, _packedRecurrent;
        private readonly T[] _xGates, _hGates, _recurrentTransposed, _cellInputBias, _cellRecurrentBias;
        private readonly T[][]? _hGatesOfPart;
        private readonly T[]? _recurrentMask;
        private readonly T _zoneScalar;
        private readonly int _cellParts;
        private readonly Action<int> _cellPart;
        private int _cellStep;

        /// <summary>
        /// Sets up the pass over <see cref="Forward"/>'s checked arguments (mask: the lengths, empty for none). With input
        /// dropout the pass reads maskedInput, already filled for the batch split and filled chunk by chunk for a chunked
        /// pass. chunkSteps: steps per chunk for the wavefront (time-major, the input projected per chunk by
        /// <see cref="ProjectChunk"/>); 0 for the batch split.
        /// </summary>
        internal ForwardPass(RecurrentLayerWeights<T> w, ReadOnlyMemory<T> unmaskedInput, T[]? maskedInput, int steps, int batch,
            ReadOnlySpan<T> h0, ReadOnlySpan<T> c0, int[] mask, RecurrentLayerOptions<T>? options, bool keepForBackward, T[]? batchMajorOutput,
            int chunkSteps)
        {
            int I = w.InputSize, H = w.HiddenSize, GH = TCell.GateCount * H;
            var x = maskedInput ?? unmaskedInput;
            (_w, _x, _unmaskedInput, _maskedInput, _steps, _batch, _input, _hidden, _gatesWidth) = (w, x, unmaskedInput, maskedInput, steps, batch, I, H, GH);
            (_mask, _options, _keepForBackward, _batchMajorOutput, _ln) = (mask, options, keepForBackward, batchMajorOutput, w.LayerNorm);
            _zeroInitialState = h0.IsEmpty;
            ChunkSteps = chunkSteps;
            var ln = _ln;
            _lnCell = ln is not null && TCell.HasCellState;
            // A chunk runs every row of its steps. Kept for backward, the cache has the batch split's layout, which the
            // backward pass splits by; time-major, its rows do not depend on the parts. Inference needs no parts.
            _layout = chunkSteps == 0 || keepForBackward ? Split(steps, batch, H, ln is not null) : new StepLayout(steps, batch, 1, partMajor: false);
            if (chunkSteps > 0 && _layout.PartMajor)
                throw new ArgumentException($"a chunked forward pass kept for backward needs a time-major layout; H = {H} splits part-major.", nameof(chunkSteps));
            int parts = _layout.Parts;
            _cache = new RecurrentLayerCache<T>(_layout, H, TCell.HasCellState, TCell.SavedWidth, x, mask, keepForBackward, h0,
                TCell.HasCellState ? c0 : [], outputToCaller: batchMajorOutput is not null) { Options = options };

            // xGates = x·W_ihᵀ: [T·B, G·H] for all steps at once, or [B, G·H] for one step at a time inside the loop with
            // W_ihᵀ packed once (see ProjectsInputPerStep), or a ring of chunks. The cell adds b_ih as it reads them (layer
            // norm: xGates = LN_ih(x·W_ihᵀ) + b_ih here, and the cell adds nothing).
            _perStep = chunkSteps == 0 && steps > 1 && ln is null && ProjectsInputPerStep(I, H, batch / parts);
            // Split by sequences, the all-steps projection runs per part too: each part projects its own rows of every
            // step before its time loop, so those rows are written by the thread that reads them here and writes the
            // same rows of the gate gradients in the backward pass (see ProjectsInputPerPart).
            _perPart = chunkSteps == 0 && !_perStep && ProjectsInputPerPart(parts, ln is not null);
            _packedInput = _perStep || _perPart || chunkSteps > 0 ? PackInput(w) : null;
            int xGatesSteps = _perStep ? 1 : chunkSteps > 0 ? Math.Min(steps, RingChunks * chunkSteps) : steps;
            _xGates = Workspace.AllocateUninitialized<T>(xGatesSteps * batch * GH); // GEMMs overwrite it
            if (_packedInput is null) Gemm.Multiply<T>(false, true, steps * batch, GH, I, x.Span, w.InputWeights, _xGates, accumulate: false);
            // Without layer norm the cell adds both biases as it reads the gates (layer norm adds them with its own shift).
            _cellInputBias = ln is null ? w.InputBias : [];
            _cellRecurrentBias = ln is null ? w.RecurrentBias : [];
            if (ln is not null)
            {
                // The normalised values and 1/σ feed only the backward pass: inference keeps one step of them, overwritten
                // each step (config b's size with layer norm held 118 MB of them).
                int kept = keepForBackward ? steps : 1;
                (_cache.XNorm, _cache.XRstd) = (Workspace.Allocate<T>(kept * batch * GH), Workspace.Allocate<T>(kept * batch));
                (_cache.HNorm, _cache.HRstd) = (Workspace.Allocate<T>(kept * batch * GH), Workspace.Allocate<T>(kept * batch));
                if (_lnCell) (_cache.CNorm, _cache.CRstd) = (Workspace.Allocate<T>(kept * batch * H), Workspace.Allocate<T>(kept * batch));
                for (int t = 0; t < steps; t += kept)
                {
                    int rows = Math.Min(kept, steps - t) * batch;
                    var gates = _xGates.AsSpan(t * batch * GH, rows * GH);
                    RowLayerNorm<T>.Forward(rows, GH, gates, ln.InputGain, ln.InputBias, w.InputBias, gates, _cache.XNorm.AsSpan(0, rows * GH), _cache.XRstd.AsSpan(0, rows));
                }
            }

            // [B, G·H], every step's product overwrites its rows; part-major, each part has one of its own ([n, G·H]).
            _hGates = _layout.PartMajor ? [] : Workspace.AllocateUninitialized<T>(batch * GH);
            _hGatesOfPart = _layout.PartMajor
                ? Enumerable.Range(0, parts).Select(p => Workspace.AllocateUninitialized<T>(_layout.PartSize(p) * GH)).ToArray()
                : null;
            // W_hhᵀ: [H, G·H] packed once into the GEMM's panel format (float32), so every step's product reads the
            // resident packed weights; the reference (other types) transposes it once so each step reads it row-major.
            // A single step (streaming) reads W_hh as it is: packing would cost more than the one product it serves.
            _packedRecurrent = steps > 1 ? PackRecurrent(w, transpose: true) : null;
            _transposeOnce = typeof(T) != typeof(float);
            _recurrentTransposed = _transposeOnce ? Workspace.Allocate<T>(H * GH) : [];
            if (_transposeOnce)
                for (int g = 0; g < GH; g++)
                    for (int k = 0; k < H; k++) _recurrentTransposed[k * GH + g] = w.RecurrentWeights[g * H + k];
            _recurrentMask = options?.RecurrentMask;
            if (_recurrentMask is not null) _cache.MaskedStates = Workspace.Allocate<T>(steps * batch * H);
            _zoneout = options is { HasZoneout: true };
            _zoneScalar = T.CreateChecked(options?.Zoneout ?? 0);
            // Unsplit batch (a W_hh too large for the batch split, whose product splits its columns over the threads
            // instead): the cell's rows are split over the threads, one phase per step. Each row is computed alone, so
            // the bits do not depend on the split. A chunk of the wavefront runs on one thread.
            _cellParts = parts == 1 && chunkSteps == 0 ? CellParts(batch, H) : 1;
            _cellPart = p => StepCell(_cellStep, StepLayout.PartStart(p, _cellParts, batch), StepLayout.PartStart(p + 1, _cellParts, batch) - StepLayout.PartStart(p, _cellParts, batch));
        }

        /// <summary>Parts of the batch split (1 for a chunked pass).</summary>
        internal int Parts => _layout.Parts;

        /// <summary>Steps per chunk of a chunked pass; 0 for the batch split.</summary>
        internal int ChunkSteps { get; }

        /// <summary>Chunks of a chunked pass (the last may be shorter).</summary>
        internal int Chunks => (_steps + ChunkSteps - 1) / ChunkSteps;

        /// <summary>The cache this pass fills.</summary>
        internal RecurrentLayerCache<T> Cache => _cache;

        /// <summary>Offset of step t, rows [r0, r0 + n) in xGates (all-steps rows are time-major, each part's own projection follows the layout).</summary>
        private int XGatesAt(int t, int r0, int n) =>
            (_perStep ? r0
            : _perPart ? _layout.Row(t, r0, n)
            : ChunkSteps > 0 ? t % (RingChunks * ChunkSteps) * _batch + r0
            : t * _batch + r0) * _gatesWidth;

        /// <summary>hGates [n, G·H] (+)= h [n, H]·W_hhᵀ</summary>
        private void StepProduct(int n, ReadOnlySpan<T> h, Span<T> gates, bool accumulate)
        {
            int H = _hidden, GH = _gatesWidth;
            if (_packedRecurrent is not null) RecurrentProduct(_packedRecurrent, n, GH, H, h, [], gates, accumulate);
            else if (_transposeOnce) Gemm.Multiply<T>(false, false, n, GH, H, h, _recurrentTransposed, gates, accumulate);
            else Gemm.Multiply<T>(false, true, n, GH, H, h, _w.RecurrentWeights, gates, accumulate);
        }

        /// <summary>The cell of step t over rows [b0, b0 + rows) (time-major; the unsplit batch only).</summary>
        private void StepCell(int t, int b0, int rows)
        {
            int H = _hidden, S = TCell.SavedWidth, count = rows * H;
            TCell.Forward<T>(rows, H, _xGates.AsSpan(XGatesAt(t, b0, rows), rows * _gatesWidth), _cellInputBias, _hGates.AsSpan(b0 * _gatesWidth, rows * _gatesWidth),
                _cache.Hs.AsSpan(_cache.HiddenRow(t, b0, rows) * H, count), CellRows(_cache.Cs, _cache.CellRow(t, b0, rows) * H, count),
                _cache.Saved.AsSpan((_keepForBackward ? t * _batch : 0) * S * H + b0 * S * H, rows * S * H),
                _cache.Hs.AsSpan(_cache.HiddenRow(t + 1, b0, rows) * H, count), CellRows(_cache.Cs, _cache.CellRow(t + 1, b0, rows) * H, count), _cellRecurrentBias);
        }

        /// <summary>
        /// Part p of the batch split: its rows of every step, with no barrier between steps (sequences are independent;
        /// see BatchParts).
        /// </summary>
        internal void RunPart(int part)
        {
            int r0 = _layout.PartStart(part), n = _layout.PartSize(part);
            if (_perPart)
                for (int t = 0; t < _steps; t++)
                    RecurrentProduct(_packedInput, n, _gatesWidth, _input, _x.Span.Slice((t * _batch + r0) * _input, n * _input), [],
                        _xGates.AsSpan(XGatesAt(t, r0, n), n * _gatesWidth), accumulate: false);
            RunSteps(part, r0, n, 0, _steps);
        }

        /// <summary>
        /// Rows [r0, r1) of chunk k's input projection (rows count the chunk's steps × batch, time-major) into its ring
        /// buffer; needs the chunk's input written and chunk k − <see cref="RingChunks"/> run.
        /// </summary>
        internal void ProjectChunk(int chunk, int r0, int r1)
        {
            int t0 = chunk * ChunkSteps;
            if (_maskedInput is not null)
                MaskInput(_unmaskedInput.Span, _options!.InputMask!, _maskedInput, _batch, _input, t0 * _batch + r0, r1 - r0);
            RecurrentProduct(_packedInput, r1 - r0, _gatesWidth, _input, _x.Span.Slice((t0 * _batch + r0) * _input, (r1 - r0) * _input), [],
                _xGates.AsSpan(XGatesAt(t0, 0, _batch) + r0 * _gatesWidth, (r1 - r0) * _gatesWidth), accumulate: false);
        }

        /// <summary>Rows of chunk k's input projection: its steps × batch.</summary>
        internal int ChunkRows(int chunk) => (Math.Min(_steps, (chunk + 1) * ChunkSteps) - chunk * ChunkSteps) * _batch;

        /// <summary>Chunk k's steps over all sequences; needs chunk k − 1 run and chunk k projected.</summary>
        internal void RunChunk(int chunk)
        {
            int t0 = chunk * ChunkSteps, t1 = Math.Min(_steps, t0 + ChunkSteps);
            RunSteps(0, 0, _batch, t0, t1);
        }

        /// <summary>Steps [t0, t1) over rows [r0, r0 + n) of the batch (part p's rows), and their output.</summary>
        private void RunSteps(int part, int r0, int n, int t0, int t1)
        {
            int H = _hidden, GH = _gatesWidth, BH = _batch * H, S = TCell.SavedWidth;
            int rowH = r0 * H, nH = n * H, nGH = n * GH;
            var cache = _cache;
            var ln = _ln;
            // Offset of step t of these rows in a buffer of width w per sequence, in the cache's layout.
            int At(int t, int w) => _layout.Row(t, r0, n) * w;
            // What only the backward pass reads (saved gate values, layer norm's statistics): every step when kept for
            // backward, else these rows of one step, overwritten each step.
            int KeptAt(int t, int w) => _keepForBackward ? At(t, w) : r0 * w;
            var hGatesRows = _hGatesOfPart is null ? _hGates.AsSpan(r0 * GH, nGH) : _hGatesOfPart[part];
            for (int t = t0; t < t1; t++)
            {
                // hGates = h_{t−1}·W_hhᵀ (the cell adds b_hh), with recurrent dropout (h_{t−1} ⊙ m)·W_hhᵀ
                ReadOnlySpan<T> hIn = cache.Hs.AsSpan(cache.HiddenRow(t, r0, n) * H, nH);
                if (cache.MaskedStates is { } maskedStates)
                {
                    var into = maskedStates.AsSpan(At(t, H), nH);
                    TensorPrimitives.Multiply(hIn, _recurrentMask!.AsSpan(rowH, nH), into);
                    hIn = into;
                }
                // h_0 = 0 without an initial state: step 0's product would be all +0 (each sum of ±0 terms from +0).
                if (t == 0 && _zeroInitialState) hGatesRows.Clear();
                else StepProduct(n, hIn, hGatesRows, accumulate: false);
                if (ln is not null)
                    RowLayerNorm<T>.Forward(n, GH, hGatesRows, ln.RecurrentGain, ln.RecurrentBias, _w.RecurrentBias, hGatesRows,
                        cache.HNorm.AsSpan(KeptAt(t, GH), nGH), cache.HRstd.AsSpan(KeptAt(t, 1), n));
                var xGatesRows = _xGates.AsSpan(XGatesAt(t, r0, n), nGH);
                if (_perStep)
                    RecurrentProduct(_packedInput, n, GH, _input, _x.Span.Slice((t * _batch + r0) * _input, n * _input), [], xGatesRows, accumulate: false);
                var hPrev = cache.Hs.AsSpan(cache.HiddenRow(t, r0, n) * H, nH);
                var hNext = cache.Hs.AsSpan(cache.HiddenRow(t + 1, r0, n) * H, nH);
                var cPrev = CellRows(cache.Cs, cache.CellRow(t, r0, n) * H, nH);
                var cNext = CellRows(cache.Cs, cache.CellRow(t + 1, r0, n) * H, nH);
                var saved = cache.Saved.AsSpan(KeptAt(t, S * H), n * S * H);
                if (_lnCell)
                    LstmCell.ForwardLayerNorm<T>(n, H, xGatesRows, hGatesRows, cPrev, saved, hNext, cNext,
                        ln!.CellGain, ln.CellBias, cache.CNorm.AsSpan(KeptAt(t, H), nH), cache.CRstd.AsSpan(KeptAt(t, 1), n));
                else if (_cellParts > 1)
                {
                    _cellStep = t;
                    Engine.Run(_cellParts, _cellPart);
                }
                else TCell.Forward<T>(n, H, xGatesRows, _cellInputBias, hGatesRows, hPrev, cPrev, saved, hNext, cNext, _cellRecurrentBias);
                if (_zoneout)
                {
                    // h_t = ζ ⊙ h_{t−1} + (1 − ζ) ⊙ h̃_t, likewise c (the masks are time-major, as given)
                    Zone(hNext, hPrev, MaskRows(_options!.ZoneoutHidden, t * BH + rowH, nH), _zoneScalar);
                    if (TCell.HasCellState) Zone(cNext, cPrev, MaskRows(_options.ZoneoutCell, t * BH + rowH, nH), _zoneScalar);
                }
                // Padded rows carry the previous state over what the cell computed.
                for (int b = r0; b < Math.Min(r0 + n, _mask.Length); b++)
                {
                    if (t < _mask[b]) continue;
                    hPrev.Slice((b - r0) * H, H).CopyTo(hNext.Slice((b - r0) * H, H));
                    if (TCell.HasCellState) cPrev.Slice((b - r0) * H, H).CopyTo(cNext.Slice((b - r0) * H, H));
                }
                if (cache.StatesInRing) WriteOutput(r0, n, t, t + 1); // h_{t+1} is overwritten two steps on
            }
            if (!cache.StatesInRing) WriteOutput(r0, n, t0, t1);
        }

        /// <summary>
        /// Output = h_{t0+1} … h_{t1} of rows [r0, r0 + n) with the padded rows zero: time-major, or into the caller's
        /// [B, T, H], where these sequences are one block.
        /// </summary>
        private void WriteOutput(int r0, int n, int t0, int t1)
        {
            int H = _hidden, BH = _batch * H, rowH = r0 * H, nH = n * H;
            int At(int t) => _cache.HiddenRow(t, r0, n) * H;
            if (_cache.SeparateOutput is { } output)
                for (int t = t0; t < t1; t++)
                {
                    var rows = output.AsSpan(t * BH + rowH, nH);
                    _cache.Hs.AsSpan(At(t + 1), nH).CopyTo(rows);
                    for (int b = r0; b < Math.Min(r0 + n, _mask.Length); b++)
                        if (t >= _mask[b]) rows.Slice((b - r0) * H, H).Clear();
                }
            if (_batchMajorOutput is not null)
                for (int b = r0; b < r0 + n; b++)
                    for (int t = t0; t < t1; t++)
                    {
                        var row = _batchMajorOutput.AsSpan((b * _steps + t) * H, H);
                        if (b < _mask.Length && t >= _mask[b]) row.Clear();
                        else _cache.Hs.AsSpan(At(t + 1) + (b - r0) * H, H).CopyTo(row);
                    }
        }

        /// <summary>Gives back the pass's own buffers (the cache keeps its) and returns the cache.</summary>
        internal RecurrentLayerCache<T> Finish()
        {
            Workspace.Release(_xGates);
            Workspace.Release(_hGates);
            foreach (var own in _hGatesOfPart ?? []) Workspace.Release(own);
            Workspace.Release(_recurrentTransposed);
            ReleasePacked(_packedRecurrent);
            ReleasePacked(_packedInput);
            return _cache;
        }
    }
}
