using System.Runtime.InteropServices;
using System.Numerics;
using System.Numerics.Tensors;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// Forward results of a <see cref="CheckpointedDeepKernel{T, TCell}"/> pass: every layer's input sequence and, per
/// layer and direction, the states at each segment's start, instead of every step's caches.
/// </summary>
public sealed class CheckpointedDeepResult<T> where T : struct
{
    internal CheckpointedDeepResult(int steps, int batch, int hidden, int directions, bool residual, int segment, int[] realLengths,
        ReadOnlyMemory<T>[] inputs, T[][]? masks, IReadOnlyList<RecurrentLayerOptions<T>?>? options, T[][] boundaryHidden,
        T[][] boundaryCell, T[] output, T[] finalHidden, T[] finalCell, double[]? saturatedFraction)
    {
        (Steps, Batch, Hidden, Directions, Residual, Segment) = (steps, batch, hidden, directions, residual, segment);
        (RealLengths, Inputs, Masks, Options) = (realLengths, inputs, masks, options);
        (BoundaryHidden, BoundaryCell) = (boundaryHidden, boundaryCell);
        (Output, FinalHidden, FinalCell, SaturatedFraction) = (output, finalHidden, finalCell, saturatedFraction);
    }

    public int Steps { get; }
    public int Batch { get; }
    public int Hidden { get; }
    public int Directions { get; }
    public bool Residual { get; }

    /// <summary>K: steps per segment, in each direction's reading order.</summary>
    public int Segment { get; }

    /// <summary>Real steps of each sequence [B] (T for all when no lengths were given).</summary>
    internal int[] RealLengths { get; }

    /// <summary>
    /// Layer l's input [T, B, I or D·H]: x for layer 0 (a reference), layer l − 1's output (after the residual sum
    /// and the dropout mask) above it. The backward pass recomputes each segment from these.
    /// </summary>
    internal ReadOnlyMemory<T>[] Inputs { get; }

    /// <summary>Dropout masks between layers ([L−1] of [T, B, D·H]), or null without dropout.</summary>
    internal T[][]? Masks { get; }

    internal IReadOnlyList<RecurrentLayerOptions<T>?>? Options { get; }

    /// <summary>Per layer and direction (index l·D + d): h at each segment's start [S, B, H]; empty arrays when none were kept.</summary>
    internal T[][] BoundaryHidden { get; }

    /// <summary>c likewise; empty arrays without cell state.</summary>
    internal T[][] BoundaryCell { get; }

    /// <summary>
    /// The last layer's outputs: [T, B, D·H], per step concat(forward, backward); zero at padded steps. The backward
    /// pass does not read it, so a caller that copies it elsewhere may release it.
    /// </summary>
    public T[] Output { get; }

    /// <summary>Final states [L·D, B, H], ordered as PyTorch's: l0 forward, l0 backward, l1 forward, …</summary>
    public T[] FinalHidden { get; }

    /// <summary>Final cell states [L·D, B, H]; empty without cell state.</summary>
    public T[] FinalCell { get; }

    /// <summary>Saturated gate fraction per layer [L], pooled over the directions, when measured.</summary>
    public double[]? SaturatedFraction { get; }

    private bool _released;

    /// <summary>
    /// Returns what only the backward pass reads to the <see cref="Workspace"/>: the segment-start states and the
    /// inputs of layers above the first (layer 0's input is the caller's). The output and final states belong to
    /// the caller. A second call does nothing.
    /// </summary>
    internal void Release()
    {
        if (_released) return;
        _released = true;
        foreach (var buffer in BoundaryHidden.Concat(BoundaryCell)) Workspace.Release(buffer);
        foreach (var input in Inputs.Skip(1))
            if (MemoryMarshal.TryGetArray(input, out var segment) && segment.Array is { } owned) Workspace.Release(owned);
    }
}

/// <summary>
/// Gradient checkpointing of the time loop of the deep path (<see cref="DeepRecurrentKernel{T, TCell}"/>:
/// bidirectional, residual, dropout between layers), layer by layer. Time-major; D = 1 or 2 directions; letters as
/// <see cref="IRecurrentCell"/>, S = ⌈T/K⌉ segments per direction.
/// </summary>
/// <remarks>
/// <para>Why layer by layer: the reverse direction of layer l − 1 produces its output at step 0 only after reading
/// the whole sequence, and layer l reads both directions of layer l − 1 at every step, so the stack cannot be cut
/// into segments that run all layers together (as <see cref="CheckpointedStackKernel{T, TCell}"/> does). Instead
/// each layer's output sequence is kept — it is the next layer's input, which the backward pass needs anyway — and
/// each layer and direction is checkpointed on its own over its input: its states at every segment's start are kept
/// and its per-step caches (h, c, saved gates, layer-norm statistics, masked inputs and states) dropped. The
/// backward pass goes layer by layer from the top, and within each direction recomputes one segment at a time, last
/// first, carrying dL/dh, dL/dc across segment boundaries.</para>
/// <para>Directions: a reverse direction's segments are cut in its own reading order, which starts at each
/// sequence's own last real step: reading step t of sequence b is step n_b − 1 − t for t &lt; n_b (steps ≥ n_b stay
/// padding), exactly the reversal <see cref="DeepRecurrentKernel{T, TCell}.ReverseWithin"/> makes. A segment's
/// input rows are gathered through that map, its outputs scattered back through it, and in backward its output
/// gradients gathered and its input gradients added back the same way — no reversed copy of a whole sequence is
/// made. Zoneout masks and lengths are in reading order, as for the stored path.</para>
/// <para>Residual connections and dropout between layers apply to whole layer outputs, as in the stored path;
/// layer l's kept input is the dropped output of layer l − 1 (the undropped one is not kept: backward needs only
/// the mask).</para>
/// <para>Results equal the stored deep path's: outputs and final states bit for bit; gradients to rounding (weight
/// gradients summed per segment). Workspace: the L layer outputs [T, B, D·H] and L·D·S·B·H boundary states (and as
/// many c), plus one segment's caches at a time, instead of every layer-direction's per-step caches.</para>
/// </remarks>
public static class CheckpointedDeepKernel<T, TCell>
    where T : struct, IFloatingPointIeee754<T>
    where TCell : IRecurrentCell
{
    /// <summary>
    /// Arguments as <see cref="DeepRecurrentKernel{T, TCell}.Forward"/>: x [T, B, I]; weights [L·D] (index l·D + d);
    /// h0, c0 [L·D, B, H] or empty for zeros; dropoutMasks null or L − 1 arrays [T, B, D·H]; lengths [B] or empty;
    /// options null or one per layer and direction. segment: K ≥ 1; keepBoundaries: keep what
    /// <see cref="Backward"/> needs (inference needs none); measureSaturation: fill
    /// <see cref="CheckpointedDeepResult{T}.SaturatedFraction"/>.
    /// </summary>
    public static CheckpointedDeepResult<T> Forward(IReadOnlyList<RecurrentLayerWeights<T>> weights, int directions, bool residual,
        IReadOnlyList<T[]>? dropoutMasks, ReadOnlyMemory<T> x, int steps, int batch, int segment, ReadOnlySpan<T> h0, ReadOnlySpan<T> c0,
        ReadOnlySpan<int> lengths = default, IReadOnlyList<RecurrentLayerOptions<T>?>? options = null,
        bool keepBoundaries = true, bool measureSaturation = false)
    {
        TimeSegments.CheckSegment(segment);
        if (directions is not (1 or 2)) throw new ArgumentOutOfRangeException(nameof(directions), directions, "directions must be 1 or 2.");
        if (weights.Count == 0 || weights.Count % directions != 0)
            throw new ArgumentException($"Expected one weight set per layer and direction (a multiple of {directions}); found {weights.Count}.", nameof(weights));
        int D = directions, L = weights.Count / D, H = weights[0].HiddenSize, BH = batch * H, W = D * H;
        int S = TimeSegments.Count(steps, segment);
        bool cell = TCell.HasCellState;
        if (options is not null && options.Count != weights.Count)
            throw new ArgumentException($"{TCell.DisplayName} options must hold one entry per layer and direction ({weights.Count}); found {options.Count}.", nameof(options));
        CheckState(h0, L * D * BH, "h0");
        CheckState(c0, L * D * BH, "c0");
        if (dropoutMasks is not null)
        {
            if (dropoutMasks.Count != L - 1)
                throw new ArgumentException($"Expected {L - 1} dropout masks (one between each pair of layers); found {dropoutMasks.Count}.", nameof(dropoutMasks));
            foreach (var m in dropoutMasks) CheckState(m, steps * batch * W, "dropout mask");
        }
        int[] real = RealLengths(lengths, steps, batch);

        var inputs = new ReadOnlyMemory<T>[L];
        var boundaryHidden = new T[L * D][];
        var boundaryCell = new T[L * D][];
        var finalHidden = Workspace.Allocate<T>(L * D * BH);
        var finalCell = cell ? Workspace.Allocate<T>(L * D * BH) : [];
        var saturated = measureSaturation ? new double[L] : null;
        var hState = Workspace.Allocate<T>(BH);
        var cState = cell ? Workspace.Allocate<T>(BH) : [];
        var made = new List<T[]>();
        ReadOnlyMemory<T> input = x;
        T[] output = [];
        for (int l = 0; l < L; l++)
        {
            int inWidth = weights[l * D].InputSize;
            if (input.Length != steps * batch * inWidth)
                throw new ArgumentException($"Layer {l} expects inputs of width {inWidth}; found {input.Length} values for [T={steps}, B={batch}].", nameof(weights));
            inputs[l] = input;
            output = Workspace.Allocate<T>(steps * batch * W); // the next layer's input, or the result's output
            for (int d = 0; d < D; d++)
            {
                int k = l * D + d;
                if (weights[k].HiddenSize != H) throw new ArgumentException($"Every layer and direction needs hidden size {H}; weight set {k} has {weights[k].HiddenSize}.", nameof(weights));
                boundaryHidden[k] = keepBoundaries ? Workspace.Allocate<T>(S * BH) : [];
                boundaryCell[k] = keepBoundaries && cell ? Workspace.Allocate<T>(S * BH) : [];
                StateSlice(h0, k, BH).CopyTo(hState);
                if (h0.IsEmpty) Array.Clear(hState);
                if (cell)
                {
                    StateSlice(c0, k, BH).CopyTo(cState);
                    if (c0.IsEmpty) Array.Clear(cState);
                }
                long realRows = 0;
                double saturatedSum = 0;
                for (int s = 0; s < S; s++)
                {
                    int start = s * segment, n = Math.Min(segment, steps - start);
                    if (keepBoundaries)
                    {
                        hState.CopyTo(boundaryHidden[k], s * BH);
                        if (cell) cState.CopyTo(boundaryCell[k], s * BH);
                    }
                    var held = new List<RecurrentLayerCache<T>>();
                    var cache = RunSegment(weights[k], input, d, batch, steps, start, n, hState, cState, real, options?[k], made, held);
                    // Output rows back at their steps, in this direction's half of each D·H-wide row.
                    var half = cache.Output.Span;
                    for (int t = 0; t < n; t++)
                        for (int b = 0; b < batch; b++)
                            half.Slice((t * batch + b) * H, H).CopyTo(output.AsSpan((Source(d, start + t, real[b]) * batch + b) * W + d * H, H));
                    if (saturated is not null)
                    {
                        long rows = TimeSegments.RealRows(real, batch, start, n);
                        realRows += rows;
                        saturatedSum += RecurrentLayerKernel<T, TCell>.SaturatedFraction(cache) * rows;
                    }
                    cache.FinalHidden.CopyTo(hState);
                    if (cell) cache.FinalCell.CopyTo(cState);
                    TimeSegments.Drop(held, made);
                }
                hState.CopyTo(finalHidden, k * BH);
                if (cell) cState.CopyTo(finalCell, k * BH);
                if (saturated is not null) saturated[l] += (realRows == 0 ? 0 : saturatedSum / realRows) / D;
            }
            if (residual && DeepRecurrentKernel<T, TCell>.HasResidual(l)) TensorPrimitives.Add(output, input.Span, output);
            // x_{l+1} = y_l ⊙ mask_l, in place: backward needs only the mask, not y_l.
            if (l < L - 1 && dropoutMasks is not null) TensorPrimitives.Multiply(output, dropoutMasks[l], output);
            input = output;
        }
        Workspace.Release(hState);
        Workspace.Release(cState);
        return new CheckpointedDeepResult<T>(steps, batch, H, D, residual, segment, real, inputs, dropoutMasks?.ToArray(), options?.ToArray(),
            boundaryHidden, boundaryCell, output, finalHidden, finalCell, saturated);
    }

    /// <summary>
    /// Arguments as <see cref="DeepRecurrentKernel{T, TCell}.Backward"/>: dOutput [T, B, D·H] (empty = none); dhN,
    /// dcN [L·D, B, H] (empty = none); adds into every weight set's gradients and into dx [T, B, I] when not empty;
    /// writes dh0, dc0 [L·D, B, H] when not empty; stepGradientNorms[l] gets [T] = √(Σ_d ‖dL/dh_t‖²), each
    /// direction's step t in its own reading order.
    /// </summary>
    public static void Backward(IReadOnlyList<RecurrentLayerWeights<T>> weights, CheckpointedDeepResult<T> forward,
        ReadOnlySpan<T> dOutput, ReadOnlySpan<T> dhN, ReadOnlySpan<T> dcN,
        IReadOnlyList<RecurrentLayerWeights<T>> grads, Span<T> dx, Span<T> dh0, Span<T> dc0, double[][]? stepGradientNorms = null)
    {
        int D = forward.Directions, L = weights.Count / D, steps = forward.Steps, batch = forward.Batch, H = forward.Hidden;
        int BH = batch * H, W = D * H, rows = steps * batch, K = forward.Segment, S = TimeSegments.Count(steps, K);
        bool cell = TCell.HasCellState;
        if (forward.BoundaryHidden[0].Length == 0)
            throw new InvalidOperationException("The checkpointed forward pass ran with keepBoundaries: false, so there is nothing to run backward from.");
        CheckState(dOutput, rows * W, "dOutput");
        CheckState(dhN, L * D * BH, "dhN");
        CheckState(dcN, L * D * BH, "dcN");
        CheckState(dx, rows * weights[0].InputSize, "dx");
        var real = forward.RealLengths;
        // dL/d(layer l's output), after the residual sum and before the dropout that the next layer reads through.
        T[] dY = [];
        ReadOnlySpan<T> dLayerOutput = dOutput;
        var dhEnd = Workspace.Allocate<T>(BH);
        var dcEnd = cell ? Workspace.Allocate<T>(BH) : [];
        var dhStart = Workspace.Allocate<T>(BH);
        var dcStart = cell ? Workspace.Allocate<T>(BH) : [];
        var made = new List<T[]>();
        for (int l = L - 1; l >= 0; l--)
        {
            int inWidth = weights[l * D].InputSize;
            var input = forward.Inputs[l];
            // dL/d(this layer's input): layer l − 1's dropped output, or x for layer 0.
            T[] dInput = l > 0 ? Workspace.Allocate<T>(rows * inWidth) : [];
            Span<T> dLayerInput = l > 0 ? dInput : dx;
            double[]? norms = stepGradientNorms is null ? null : new double[steps];
            for (int d = 0; d < D; d++)
            {
                int k = l * D + d;
                StateSlice(dhN, k, BH).CopyTo(dhEnd);
                if (dhN.IsEmpty) Array.Clear(dhEnd);
                if (cell)
                {
                    StateSlice(dcN, k, BH).CopyTo(dcEnd);
                    if (dcN.IsEmpty) Array.Clear(dcEnd);
                }
                var directionNorms = norms is null ? null : new double[steps];
                for (int s = S - 1; s >= 0; s--)
                {
                    int start = s * K, n = Math.Min(K, steps - start);
                    var held = new List<RecurrentLayerCache<T>>();
                    var cache = RunSegment(weights[k], input, d, batch, steps, start, n,
                        forward.BoundaryHidden[k].AsSpan(s * BH, BH), cell ? forward.BoundaryCell[k].AsSpan(s * BH, BH) : [],
                        real, forward.Options?[k], made, held);
                    // This direction's half of the output gradient, gathered in reading order: [n, B, H].
                    T[] dHalf = [];
                    if (!dLayerOutput.IsEmpty)
                    {
                        dHalf = Workspace.Allocate<T>(n * BH);
                        for (int t = 0; t < n; t++)
                            for (int b = 0; b < batch; b++)
                                dLayerOutput.Slice((Source(d, start + t, real[b]) * batch + b) * W + d * H, H).CopyTo(dHalf.AsSpan((t * batch + b) * H, H));
                    }
                    // The forward direction's segment input is a contiguous slice, so its gradient adds straight into
                    // the layer's; the reverse direction's goes through a buffer, added back through the reversal.
                    bool direct = d == 0 || dLayerInput.IsEmpty;
                    T[] dSegmentInput = direct ? [] : Workspace.Allocate<T>(n * batch * inWidth);
                    RecurrentLayerKernel<T, TCell>.Backward(weights[k], cache, dHalf, dhEnd, cell ? dcEnd : [], grads[k],
                        direct ? (dLayerInput.IsEmpty ? [] : dLayerInput.Slice(start * batch * inWidth, n * batch * inWidth)) : dSegmentInput,
                        dhStart, dcStart, directionNorms is null ? [] : directionNorms.AsSpan(start, n));
                    if (!direct)
                    {
                        for (int t = 0; t < n; t++)
                            for (int b = 0; b < batch; b++)
                            {
                                var into = dLayerInput.Slice((Source(d, start + t, real[b]) * batch + b) * inWidth, inWidth);
                                TensorPrimitives.Add(into, dSegmentInput.AsSpan((t * batch + b) * inWidth, inWidth), into);
                            }
                        Workspace.Release(dSegmentInput);
                    }
                    Workspace.Release(dHalf);
                    (dhEnd, dhStart) = (dhStart, dhEnd);
                    (dcEnd, dcStart) = (dcStart, dcEnd);
                    TimeSegments.Drop(held, made);
                }
                if (!dh0.IsEmpty) dhEnd.CopyTo(dh0.Slice(k * BH, BH));
                if (!dc0.IsEmpty && cell) dcEnd.CopyTo(dc0.Slice(k * BH, BH));
                if (norms is not null)
                    for (int t = 0; t < steps; t++) norms[t] += directionNorms![t] * directionNorms[t];
            }
            if (norms is not null) stepGradientNorms![l] = norms.Select(Math.Sqrt).ToArray();
            if (l > 0)
            {
                // y_l = f(x_l) + x_l: x_l also receives dL/dy_l directly.
                if (forward.Residual && DeepRecurrentKernel<T, TCell>.HasResidual(l) && !dLayerOutput.IsEmpty)
                    TensorPrimitives.Add(dInput, dLayerOutput, dInput);
                // x_l = y_{l−1} ⊙ mask_{l−1}.
                if (forward.Masks is { } masks) TensorPrimitives.Multiply(dInput, masks[l - 1], dInput);
            }
            Workspace.Release(dY);
            dY = dInput;
            dLayerOutput = dY;
        }
        foreach (var buffer in new[] { dhEnd, dcEnd, dhStart, dcStart }) Workspace.Release(buffer);
    }

    /// <summary>
    /// The step of the sequence that direction d reads at its step t: t forward; reverse: n − 1 − t within the
    /// sequence's n real steps, t itself at padded steps (as <see cref="DeepRecurrentKernel{T, TCell}.ReverseWithin"/>).
    /// </summary>
    private static int Source(int direction, int t, int length) => direction == 0 || t >= length ? t : length - 1 - t;

    /// <summary>
    /// One direction of one layer over its reading steps start … start+n−1 of input [T, B, F], from hStart, cStart
    /// [B, H]. The forward direction reads a slice of the input; the reverse one a gathered copy, added to
    /// <paramref name="made"/> with the zoneout slices; the cache is added to held.
    /// </summary>
    private static RecurrentLayerCache<T> RunSegment(RecurrentLayerWeights<T> weights, ReadOnlyMemory<T> input, int direction, int batch,
        int steps, int start, int n, ReadOnlySpan<T> hStart, ReadOnlySpan<T> cStart, int[] real, RecurrentLayerOptions<T>? options,
        List<T[]> made, List<RecurrentLayerCache<T>> held)
    {
        int F = weights.InputSize;
        ReadOnlyMemory<T> segmentInput;
        if (direction == 0) segmentInput = input.Slice(start * batch * F, n * batch * F);
        else
        {
            var gathered = Workspace.Allocate<T>(n * batch * F); // [n, B, F]
            var source = input.Span;
            for (int t = 0; t < n; t++)
                for (int b = 0; b < batch; b++)
                    source.Slice((Source(direction, start + t, real[b]) * batch + b) * F, F).CopyTo(gathered.AsSpan((t * batch + b) * F, F));
            made.Add(gathered);
            segmentInput = gathered;
        }
        var segmentOptions = TimeSegments.Options(options, start, n, batch * weights.HiddenSize, made);
        return TimeSegments.Run<T, TCell>(weights, segmentInput, n, batch, hStart, cStart,
            TimeSegments.Lengths(real, start, n), segmentOptions, held);
    }

    /// <summary>Validated lengths [B]; T for every sequence when none are given.</summary>
    private static int[] RealLengths(ReadOnlySpan<int> lengths, int steps, int batch)
    {
        if (!lengths.IsEmpty && lengths.Length != batch)
            throw new ArgumentException($"{TCell.DisplayName} lengths must hold one length per sequence (B = {batch}); found {lengths.Length}.", nameof(lengths));
        var real = new int[batch];
        for (int b = 0; b < batch; b++)
        {
            real[b] = lengths.IsEmpty ? steps : lengths[b];
            if (real[b] < 0 || real[b] > steps)
                throw new ArgumentException($"{TCell.DisplayName} lengths[{b}] = {real[b]} is outside 0 … {steps} (the number of time steps).", nameof(lengths));
        }
        return real;
    }

    private static ReadOnlySpan<T> StateSlice(ReadOnlySpan<T> state, int index, int bh) =>
        state.IsEmpty ? [] : state.Slice(index * bh, bh);

    private static void CheckState(ReadOnlySpan<T> state, int expected, string name)
    {
        if (!state.IsEmpty && state.Length != expected)
            throw new ArgumentException($"{TCell.DisplayName} {name} must hold {expected} values; found {state.Length}.", name);
    }
}
