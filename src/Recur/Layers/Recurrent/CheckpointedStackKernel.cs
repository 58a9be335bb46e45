using System.Numerics;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// Forward results of a <see cref="CheckpointedStackKernel{T, TCell}"/> pass: the outputs and, instead of every
/// step's caches, the states of every layer at each segment's start, from which the backward pass recomputes one
/// segment at a time.
/// </summary>
public sealed class CheckpointedStackResult<T> where T : struct
{
    internal CheckpointedStackResult(int steps, int batch, int hidden, int segment, bool batchMajor, ReadOnlyMemory<T> input, int[] lengths,
        IReadOnlyList<RecurrentLayerOptions<T>?>? options, T[] boundaryHidden, T[] boundaryCell, T[] output, T[] finalHidden,
        T[] finalCell, double[]? saturatedFraction)
    {
        (Steps, Batch, Hidden, Segment, BatchMajor) = (steps, batch, hidden, segment, batchMajor);
        (Input, Lengths, Options) = (input, lengths, options);
        (BoundaryHidden, BoundaryCell) = (boundaryHidden, boundaryCell);
        (Output, FinalHidden, FinalCell, SaturatedFraction) = (output, finalHidden, finalCell, saturatedFraction);
    }

    public int Steps { get; }
    public int Batch { get; }
    public int Hidden { get; }

    /// <summary>K: steps per segment (the last segment has T − (S−1)·K).</summary>
    public int Segment { get; }

    /// <summary>Whether x, the output and their gradients are batch-major [B, T, ·] rather than time-major [T, B, ·].</summary>
    public bool BatchMajor { get; }

    /// <summary>x: [T, B, I] or [B, T, I] (a reference).</summary>
    internal ReadOnlyMemory<T> Input { get; }

    /// <summary>[B] real steps, or empty when every sequence has T.</summary>
    internal int[] Lengths { get; }

    internal IReadOnlyList<RecurrentLayerOptions<T>?>? Options { get; }

    /// <summary>h of every layer at each segment's start: [S, L, B, H]; empty when the forward pass kept none.</summary>
    internal T[] BoundaryHidden { get; }

    /// <summary>c likewise: [S, L, B, H]; empty without cell state or boundaries.</summary>
    internal T[] BoundaryCell { get; }

    /// <summary>
    /// The last layer's outputs [T, B, H] or [B, T, H] (zero at padded steps). The backward pass does not read it.
    /// </summary>
    public T[] Output { get; }

    /// <summary>h_T of every layer: [L, B, H] (each sequence's at its last real step).</summary>
    public T[] FinalHidden { get; }

    /// <summary>c_T of every layer: [L, B, H]; empty without cell state.</summary>
    public T[] FinalCell { get; }

    /// <summary>
    /// Fraction of saturated gates per layer [L] over the real steps (as
    /// <see cref="RecurrentLayerKernel{T, TCell}.SaturatedFraction"/> over the whole sequence), when measured.
    /// </summary>
    public double[]? SaturatedFraction { get; }

    private bool _released;

    /// <summary>
    /// Returns the segment-start states to the <see cref="Workspace"/> once the backward pass no longer needs them
    /// (the output and final states belong to the caller). A second call does nothing.
    /// </summary>
    internal void Release()
    {
        if (_released) return;
        _released = true;
        Workspace.Release(BoundaryHidden);
        Workspace.Release(BoundaryCell);
    }
}

/// <summary>
/// Gradient checkpointing of the time loop of a plain stack (unidirectional; no residual connections or dropout
/// between layers): the stack of <see cref="RecurrentStackKernel{T, TCell}"/>, run in segments of K steps, with
/// the single-layer <see cref="RecurrentLayerKernel{T, TCell}"/> called as is. Letters as
/// <see cref="IRecurrentCell"/>, S = ⌈T/K⌉ segments. The sequences (x, output and their gradients) are time-major
/// [T, B, ·], or batch-major [B, T, ·] with <c>batchMajor</c>: the segments are gathered into time-major buffers one at a
/// time anyway, so a module can hand over its own layout and spare the whole-sequence layout copies, which would cost
/// a good part of what checkpointing saves.
/// </summary>
/// <remarks>
/// <para>Forward: segment s runs every layer over steps sK … sK+k−1 from the previous segment's final states, with
/// the segment's lengths clamp(n_b − sK, 0, k) and its slice of the zoneout masks (the per-sequence dropout masks
/// hold for every step, so every segment shares them). Only the states at each segment's start ([S, L, B, H]) and
/// the last layer's outputs are kept; the segment's caches are dropped.</para>
/// <para>Backward walks the segments in reverse: it recomputes one segment's caches from its stored states and runs
/// each layer's backward over them, carrying dL/dh, dL/dc of each layer from the segment's end to its start.</para>
/// <para>Results: outputs and final states equal the stored stack's bit for bit (the layer kernel's arithmetic is
/// per step); gradients to rounding, as the weight gradients are summed per segment instead of in one product.
/// Workspace: S·L·B·H states (and as many c) instead of the per-step caches, plus one segment's caches at a time —
/// O(T/K + K) steps instead of O(T).</para>
/// </remarks>
public static class CheckpointedStackKernel<T, TCell>
    where T : struct, IFloatingPointIeee754<T>
    where TCell : IRecurrentCell
{
    /// <summary>
    /// x: [T, B, I] ([B, T, I] with batchMajor); segment: K ≥ 1; h0, c0: [L, B, H] or empty for zeros; lengths: [B]
    /// real steps (each in 0 … T) or empty for all T; options: null or one entry per layer (null entries for none),
    /// the whole sequence's masks (zoneout's time-major). keepBoundaries: keep the segment-start states for
    /// <see cref="Backward"/> (inference needs none); measureSaturation: fill
    /// <see cref="CheckpointedStackResult{T}.SaturatedFraction"/>.
    /// </summary>
    public static CheckpointedStackResult<T> Forward(IReadOnlyList<RecurrentLayerWeights<T>> layers, ReadOnlyMemory<T> x, int steps, int batch,
        int segment, ReadOnlySpan<T> h0, ReadOnlySpan<T> c0, ReadOnlySpan<int> lengths = default,
        IReadOnlyList<RecurrentLayerOptions<T>?>? options = null, bool keepBoundaries = true, bool measureSaturation = false, bool batchMajor = false)
    {
        TimeSegments.CheckSegment(segment);
        int L = layers.Count, H = layers[0].HiddenSize, I = layers[0].InputSize, BH = batch * H, S = TimeSegments.Count(steps, segment);
        if (x.Length != steps * batch * I)
            throw new ArgumentException($"{TCell.DisplayName} stack input must be [T={steps}, B={batch}, I={I}] = {steps * batch * I} values; found {x.Length}.", nameof(x));
        if (options is not null && options.Count != L)
            throw new ArgumentException($"{TCell.DisplayName} options must hold one entry per layer ({L}); found {options.Count}.", nameof(options));
        CheckState(h0, L * BH, "h0");
        CheckState(c0, L * BH, "c0");
        int[] real = CheckLengths(lengths, steps, batch);
        bool cell = TCell.HasCellState;

        // The running states of every layer [L, B, H]: h0, c0 first, each segment's final states after it.
        var hState = Workspace.Allocate<T>(L * BH);
        var cState = cell ? Workspace.Allocate<T>(L * BH) : [];
        h0.CopyTo(hState);
        if (cell) c0.CopyTo(cState);
        var boundaryHidden = keepBoundaries ? Workspace.Allocate<T>(S * L * BH) : [];
        var boundaryCell = keepBoundaries && cell ? Workspace.Allocate<T>(S * L * BH) : [];
        var output = Workspace.Allocate<T>(steps * BH);
        var saturated = measureSaturation ? new double[L] : null;
        long realRows = 0;
        var made = new List<T[]>();
        for (int s = 0; s < S; s++)
        {
            int start = s * segment, k = Math.Min(segment, steps - start);
            if (keepBoundaries)
            {
                hState.CopyTo(boundaryHidden, s * L * BH);
                if (cell) cState.CopyTo(boundaryCell, s * L * BH);
            }
            var held = new List<RecurrentLayerCache<T>>();
            var caches = RunSegment(layers, x, steps, batch, batchMajor, start, k, hState, cState, real, options, made, held);
            TimeSegments.Scatter(caches[^1].Output.Span, steps, batch, H, batchMajor, start, k, output, add: false);
            if (saturated is not null)
            {
                long rows = TimeSegments.RealRows(real, batch, start, k);
                realRows += rows;
                for (int l = 0; l < L; l++) saturated[l] += RecurrentLayerKernel<T, TCell>.SaturatedFraction(caches[l]) * rows;
            }
            for (int l = 0; l < L; l++)
            {
                caches[l].FinalHidden.CopyTo(hState.AsSpan(l * BH, BH));
                if (cell) caches[l].FinalCell.CopyTo(cState.AsSpan(l * BH, BH));
            }
            TimeSegments.Drop(held, made); // the segment's caches are dropped here
        }
        if (saturated is not null)
            for (int l = 0; l < L; l++) saturated[l] = realRows == 0 ? 0 : saturated[l] / realRows;
        return new CheckpointedStackResult<T>(steps, batch, H, segment, batchMajor, x, real, options?.ToArray(), boundaryHidden, boundaryCell,
            output, hState, cState, saturated);
    }

    /// <summary>
    /// dOutput: [T, B, H] (empty = none); dhN, dcN: [L, B, H] (empty = none). Recomputes each segment from its
    /// stored states, last segment first; adds into each layer's gradients and into dx: [T, B, I] when not empty
    /// (dOutput and dx batch-major [B, T, ·] when the forward pass was);
    /// writes dh0, dc0: [L, B, H] when not empty and each layer's ‖dL/dh_t‖ into stepGradientNorms[l]: [T] when given.
    /// </summary>
    public static void Backward(IReadOnlyList<RecurrentLayerWeights<T>> layers, CheckpointedStackResult<T> forward,
        ReadOnlySpan<T> dOutput, ReadOnlySpan<T> dhN, ReadOnlySpan<T> dcN,
        IReadOnlyList<RecurrentLayerWeights<T>> grads, Span<T> dx, Span<T> dh0, Span<T> dc0, double[][]? stepGradientNorms = null)
    {
        int L = layers.Count, H = forward.Hidden, I = layers[0].InputSize, batch = forward.Batch, steps = forward.Steps;
        int BH = batch * H, K = forward.Segment, S = TimeSegments.Count(steps, K);
        bool cell = TCell.HasCellState;
        if (forward.BoundaryHidden.Length == 0)
            throw new InvalidOperationException("The checkpointed forward pass ran with keepBoundaries: false, so there is nothing to run backward from.");
        CheckState(dOutput, steps * BH, "dOutput");
        CheckState(dhN, L * BH, "dhN");
        CheckState(dcN, L * BH, "dcN");
        CheckState(dx, steps * batch * I, "dx");
        // dL/dh, dL/dc at the end of the current segment, per layer [L, B, H]: from the final states' gradients first.
        var dh = Workspace.Allocate<T>(L * BH);
        var dc = cell ? Workspace.Allocate<T>(L * BH) : [];
        dhN.CopyTo(dh);
        if (cell) dcN.CopyTo(dc);
        var dhStart = Workspace.Allocate<T>(BH);
        var dcStart = cell ? Workspace.Allocate<T>(BH) : [];
        var made = new List<T[]>();
        for (int s = S - 1; s >= 0; s--)
        {
            int start = s * K, k = Math.Min(K, steps - start);
            var held = new List<RecurrentLayerCache<T>>();
            bool batchMajor = forward.BatchMajor;
            var caches = RunSegment(layers, forward.Input, steps, batch, batchMajor, start, k,
                forward.BoundaryHidden.AsSpan(s * L * BH, L * BH), cell ? forward.BoundaryCell.AsSpan(s * L * BH, L * BH) : [],
                forward.Lengths, forward.Options, made, held);
            // The last layer's output gradient, then each layer's input gradient is the layer below's output gradient.
            T[] owned = [];
            ReadOnlySpan<T> dLayerOutput = dOutput.IsEmpty ? [] : dOutput.Slice(start * BH, k * BH);
            if (batchMajor && !dOutput.IsEmpty)
            {
                owned = Workspace.Allocate<T>(k * BH);
                TimeSegments.Gather(dOutput, steps, batch, H, batchMajor: true, start, k, owned);
                dLayerOutput = owned;
            }
            // Batch-major dx: layer 0's input gradient goes through a segment buffer.
            T[] dSegmentInput = batchMajor && !dx.IsEmpty ? Workspace.Allocate<T>(k * batch * I) : [];
            for (int l = L - 1; l >= 0; l--)
            {
                T[] dInput = l > 0 ? Workspace.Allocate<T>(k * BH) : [];
                RecurrentLayerKernel<T, TCell>.Backward(layers[l], caches[l], dLayerOutput,
                    dh.AsSpan(l * BH, BH), cell ? dc.AsSpan(l * BH, BH) : [], grads[l],
                    l > 0 ? dInput : dx.IsEmpty ? [] : batchMajor ? dSegmentInput : dx.Slice(start * batch * I, k * batch * I),
                    dhStart, dcStart, stepGradientNorms is null ? [] : stepGradientNorms[l].AsSpan(start, k));
                dhStart.CopyTo(dh, l * BH);
                if (cell) dcStart.CopyTo(dc, l * BH);
                Workspace.Release(owned);
                owned = dInput;
                dLayerOutput = dInput;
            }
            if (dSegmentInput.Length > 0)
            {
                TimeSegments.Scatter<T>(dSegmentInput, steps, batch, I, batchMajor: true, start, k, dx, add: true);
                Workspace.Release(dSegmentInput);
            }
            TimeSegments.Drop(held, made);
        }
        if (!dh0.IsEmpty) dh.CopyTo(dh0);
        if (!dc0.IsEmpty && cell) dc.CopyTo(dc0);
        foreach (var buffer in new[] { dh, dc, dhStart, dcStart }) Workspace.Release(buffer);
    }

    /// <summary>
    /// Runs every layer over steps start … start+k−1 of x [T, B, I] (or [B, T, I]) from the states hStart, cStart
    /// [L, B, H] and returns the layers' caches; each is added to held and the buffers made for them
    /// (a batch-major input's segment, zoneout slices) to <paramref name="made"/>, all to be dropped together.
    /// </summary>
    private static RecurrentLayerCache<T>[] RunSegment(IReadOnlyList<RecurrentLayerWeights<T>> layers, ReadOnlyMemory<T> x, int steps, int batch,
        bool batchMajor, int start, int k, ReadOnlySpan<T> hStart, ReadOnlySpan<T> cStart, int[] lengths, IReadOnlyList<RecurrentLayerOptions<T>?>? options,
        List<T[]> made, List<RecurrentLayerCache<T>> held)
    {
        int L = layers.Count, I = layers[0].InputSize, BH = batch * layers[0].HiddenSize;
        int[] segmentLengths = TimeSegments.Lengths(lengths, start, k);
        var caches = new RecurrentLayerCache<T>[L];
        ReadOnlyMemory<T> input;
        if (!batchMajor) input = x.Slice(start * batch * I, k * batch * I); // time-major: the segment's steps are contiguous
        else
        {
            var gathered = Workspace.Allocate<T>(k * batch * I);
            TimeSegments.Gather(x.Span, steps, batch, I, batchMajor: true, start, k, gathered);
            made.Add(gathered);
            input = gathered;
        }
        for (int l = 0; l < L; l++)
        {
            var segmentOptions = TimeSegments.Options(options?[l], start, k, BH, made);
            caches[l] = TimeSegments.Run<T, TCell>(layers[l], input, k, batch, hStart.Slice(l * BH, BH),
                cStart.IsEmpty ? [] : cStart.Slice(l * BH, BH), segmentLengths, segmentOptions, held);
            input = caches[l].Output;
        }
        return caches;
    }

    /// <summary>Validated lengths as an array ([] when none).</summary>
    private static int[] CheckLengths(ReadOnlySpan<int> lengths, int steps, int batch)
    {
        if (lengths.IsEmpty) return [];
        if (lengths.Length != batch)
            throw new ArgumentException($"{TCell.DisplayName} lengths must hold one length per sequence (B = {batch}); found {lengths.Length}.", nameof(lengths));
        for (int b = 0; b < batch; b++)
            if (lengths[b] < 0 || lengths[b] > steps)
                throw new ArgumentException($"{TCell.DisplayName} lengths[{b}] = {lengths[b]} is outside 0 … {steps} (the number of time steps).", nameof(lengths));
        return lengths.ToArray();
    }

    private static void CheckState(ReadOnlySpan<T> state, int expected, string name)
    {
        if (!state.IsEmpty && state.Length != expected)
            throw new ArgumentException($"{TCell.DisplayName} {name} must hold {expected} values; found {state.Length}.", name);
    }
}
