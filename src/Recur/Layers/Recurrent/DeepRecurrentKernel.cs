using System.Numerics;
using System.Numerics.Tensors;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// Forward results of a <see cref="DeepRecurrentKernel{T, TCell}"/> stack, time-major, with what backward needs.
/// </summary>
public sealed class DeepRecurrentResult<T> where T : struct
{
    internal DeepRecurrentResult(int steps, int batch, int hidden, int directions, bool residual, int[] realLengths,
        RecurrentLayerCache<T>[] caches, T[][]? masks, T[] output, T[] finalHidden, T[] finalCell, List<T[]> between)
    {
        _between = between;
        (Steps, Batch, Hidden, Directions, Residual) = (steps, batch, hidden, directions, residual);
        RealLengths = realLengths;
        Caches = caches;
        Masks = masks;
        Output = output;
        FinalHidden = finalHidden;
        FinalCell = finalCell;
    }

    public int Steps { get; }
    public int Batch { get; }
    public int Hidden { get; }
    public int Directions { get; }
    public bool Residual { get; }

    /// <summary>Real steps of each sequence [B] (T for all when no lengths were given).</summary>
    internal int[] RealLengths { get; }

    /// <summary>
    /// One cache per layer and direction, index l·D + d. A reverse direction's cache is in its own reading order:
    /// its step t is step n_b − 1 − t of sequence b (n_b its length); steps ≥ n_b stay padding.
    /// </summary>
    /// <remarks>Empty after an inference pass, which gives each cache back as soon as its output is copied.</remarks>
    public IReadOnlyList<RecurrentLayerCache<T>> Caches { get; }

    /// <summary>Dropout masks between layers ([L−1] of [T, B, D·H]), or null without dropout.</summary>
    internal T[][]? Masks { get; }

    /// <summary>The last layer's outputs: [T, B, D·H], per step concat(forward, backward); zero at padded steps.</summary>
    public T[] Output { get; }

    /// <summary>Final states [L·D, B, H], ordered as PyTorch's: l0 forward, l0 backward, l1 forward, …</summary>
    public T[] FinalHidden { get; }

    /// <summary>Final cell states [L·D, B, H]; empty without cell state.</summary>
    public T[] FinalCell { get; }

    // Buffers made between the layers' kernels: every layer's output but the last, reversed and dropped inputs.
    private readonly List<T[]> _between;
    private bool _released;

    /// <summary>
    /// Returns what only the backward pass reads to the <see cref="Workspace"/> pool: every cache, the buffers
    /// between layers and <see cref="Output"/>. <see cref="FinalHidden"/> and <see cref="FinalCell"/> stay (callers
    /// keep them as the next state). Nothing else of this result may be read afterwards; a second call does nothing.
    /// </summary>
    internal void Release()
    {
        if (_released) return;
        _released = true;
        foreach (var cache in Caches) cache.Release();
        foreach (var buffer in _between) Workspace.Release(buffer);
        Workspace.Release(Output);
    }
}

/// <summary>
/// Stacked, optionally bidirectional recurrent layers with optional dropout and residual connections between
/// layers, composed from the single-layer <see cref="RecurrentLayerKernel{T, TCell}"/> (called as is, once per
/// layer and direction), generic over the number type so the double instantiation can be checked by finite
/// differences. Time-major; D = 1 or 2 directions.
/// </summary>
/// <remarks>
/// <para>Directions follow PyTorch's <c>bidirectional=True</c>: weights are given per layer and direction, index
/// l·D + d (l0, l0_reverse, l1, …); layer l &gt; 0 reads the D·H-wide output of layer l − 1. The backward
/// direction of a right-padded sequence starts at its own last real step: each sequence is reversed within its
/// length (steps ≥ length stay padding), run through the kernel with the same lengths, and its outputs reversed
/// back; padded outputs are zero in both halves.</para>
/// <para>Residual connections: layer l ≥ 1 adds its input to its output (both D·H wide). Layer 0 never does, as
/// its input (features or embeddings) generally has another width; with one layer the option has no effect.</para>
/// <para>Dropout: mask l ([T, B, D·H], values 0 or 1/(1 − p)) multiplies layer l's output (after the residual
/// sum) before layer l + 1 reads it; the last layer's output is never dropped, as PyTorch's <c>dropout</c>.</para>
/// <para>Within each layer and direction, <see cref="RecurrentLayerOptions{T}"/> (input and recurrent dropout,
/// zoneout) and layer normalisation (<see cref="RecurrentLayerWeights{T}.LayerNorm"/>) apply as in the single-layer
/// kernel; a reverse direction's zoneout masks are in its own reading order.</para>
/// <para>Every buffer is counted by <see cref="Workspace"/>: what the result holds (layer outputs, reversed inputs,
/// final states) stays counted until its owner releases it after the backward pass; temporaries are released
/// before returning. An inference pass holds only the last layer's output and the final states when it returns.</para>
/// </remarks>
public static class DeepRecurrentKernel<T, TCell>
    where T : struct, IFloatingPointIeee754<T>
    where TCell : IRecurrentCell
{
    /// <summary>Whether layer <paramref name="layer"/> adds its input to its output when residual connections are on.</summary>
    public static bool HasResidual(int layer) => layer >= 1;

    /// <summary>
    /// x: [T, B, I]; weights: [L·D] (index l·D + d); h0, c0: [L·D, B, H] or empty for zeros; dropoutMasks: null or
    /// L − 1 arrays [T, B, D·H]; lengths: [B] real steps (each in 0 … T) or empty for all T; options: null, or one
    /// entry per layer and direction (index l·D + d; null entries for none): that layer-direction's dropout masks and
    /// zoneout. keepForBackward: false for inference, whose caches keep only one step of gate values.
    /// </summary>
    public static DeepRecurrentResult<T> Forward(IReadOnlyList<RecurrentLayerWeights<T>> weights, int directions, bool residual,
        IReadOnlyList<T[]>? dropoutMasks, ReadOnlyMemory<T> x, int steps, int batch, ReadOnlySpan<T> h0, ReadOnlySpan<T> c0,
        ReadOnlySpan<int> lengths = default, IReadOnlyList<RecurrentLayerOptions<T>?>? options = null, bool keepForBackward = true)
    {
        if (directions is not (1 or 2)) throw new ArgumentOutOfRangeException(nameof(directions), directions, "directions must be 1 or 2.");
        if (weights.Count == 0 || weights.Count % directions != 0)
            throw new ArgumentException($"Expected one weight set per layer and direction (a multiple of {directions}); found {weights.Count}.", nameof(weights));
        int D = directions, L = weights.Count / D, H = weights[0].HiddenSize, BH = batch * H, W = D * H;
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
        if (!lengths.IsEmpty && lengths.Length != batch)
            throw new ArgumentException($"{TCell.DisplayName} lengths must hold one length per sequence (B = {batch}); found {lengths.Length}.", nameof(lengths));
        int[] real = new int[batch];
        for (int b = 0; b < batch; b++)
        {
            real[b] = lengths.IsEmpty ? steps : lengths[b];
            if (real[b] < 0 || real[b] > steps)
                throw new ArgumentException($"{TCell.DisplayName} lengths[{b}] = {real[b]} is outside 0 … {steps} (the number of time steps).", nameof(lengths));
        }

        var caches = new RecurrentLayerCache<T>[L * D];
        var finalHidden = Workspace.Allocate<T>(L * D * BH);
        var finalCell = TCell.HasCellState ? Workspace.Allocate<T>(L * D * BH) : [];
        ReadOnlyMemory<T> input = x;
        T[] output = [];
        var between = new List<T[]>();
        for (int l = 0; l < L; l++)
        {
            int inWidth = weights[l * D].InputSize;
            if (input.Length != steps * batch * inWidth)
                throw new ArgumentException($"Layer {l} expects inputs of width {inWidth}; found {input.Length} values for [T={steps}, B={batch}].", nameof(weights));
            if (output.Length > 0) between.Add(output);
            output = Workspace.Allocate<T>(steps * batch * W);
            for (int d = 0; d < D; d++)
            {
                int k = l * D + d;
                if (weights[k].HiddenSize != H) throw new ArgumentException($"Every layer and direction needs hidden size {H}; weight set {k} has {weights[k].HiddenSize}.", nameof(weights));
                ReadOnlyMemory<T> directionInput = input;
                if (d == 1)
                {
                    var reversed = Workspace.Allocate<T>(input.Length); // the direction's cache holds it
                    between.Add(reversed);
                    ReverseWithin(input.Span, reversed, steps, batch, inWidth, real);
                    directionInput = reversed;
                }
                var cache = RecurrentLayerKernel<T, TCell>.Forward(weights[k], directionInput, steps, batch,
                    StateSlice(h0, k, BH), TCell.HasCellState ? StateSlice(c0, k, BH) : [], lengths, options?[k], keepForBackward);
                caches[k] = cache;
                cache.FinalHidden.CopyTo(finalHidden.AsSpan(k * BH));
                if (TCell.HasCellState) cache.FinalCell.CopyTo(finalCell.AsSpan(k * BH));
                var half = cache.Output.Span;
                T[]? back = null;
                if (d == 1)
                {
                    back = Workspace.Allocate<T>(half.Length);
                    ReverseWithin(half, back, steps, batch, H, real);
                    half = back;
                }
                for (int row = 0; row < steps * batch; row++) half.Slice(row * H, H).CopyTo(output.AsSpan(row * W + d * H, H));
                if (back is not null) Workspace.Release(back);
                // Inference: nothing reads the cache once its output is copied, so a deep or bidirectional stack holds one
                // cache at a time instead of all of them.
                if (!keepForBackward) cache.Release();
            }
            if (residual && HasResidual(l)) TensorPrimitives.Add(output, input.Span, output);
            if (!keepForBackward)
            {
                // … and nothing reads this layer's inputs (the layer below's output, dropped or reversed) again.
                foreach (var buffer in between) Workspace.Release(buffer);
                between.Clear();
            }
            if (l < L - 1)
            {
                if (dropoutMasks is not null)
                {
                    var dropped = Workspace.Allocate<T>(output.Length); // the next layer's cache holds it
                    between.Add(dropped);
                    TensorPrimitives.Multiply(output, dropoutMasks[l], dropped);
                    input = dropped;
                }
                else input = output;
            }
        }
        return new DeepRecurrentResult<T>(steps, batch, H, D, residual, real, keepForBackward ? caches : [],
            dropoutMasks?.ToArray(), output, finalHidden, finalCell, between);
    }

    /// <summary>
    /// dOutput: [T, B, D·H] (empty = none); dhN, dcN: [L·D, B, H] (empty = none). Adds into every weight set's
    /// gradients (same order as the weights) and into dx: [T, B, I] when not empty; writes dh0, dc0: [L·D, B, H]
    /// when not empty. stepGradientNorms[l]: [T] gets √(Σ_d ‖dL/dh_t‖²) over the directions of layer l, each
    /// direction's step t counted in its own reading order (so step 0 is where each direction starts and the last
    /// step where it ends, as for a unidirectional layer).
    /// </summary>
    public static void Backward(IReadOnlyList<RecurrentLayerWeights<T>> weights, DeepRecurrentResult<T> forward,
        ReadOnlySpan<T> dOutput, ReadOnlySpan<T> dhN, ReadOnlySpan<T> dcN,
        IReadOnlyList<RecurrentLayerWeights<T>> grads, Span<T> dx, Span<T> dh0, Span<T> dc0, double[][]? stepGradientNorms = null)
    {
        int D = forward.Directions, L = weights.Count / D, steps = forward.Steps, batch = forward.Batch, H = forward.Hidden;
        int BH = batch * H, W = D * H, rows = steps * batch;
        CheckState(dOutput, rows * W, "dOutput");
        CheckState(dhN, L * D * BH, "dhN");
        CheckState(dcN, L * D * BH, "dcN");
        var real = forward.RealLengths;
        // dL/d(layer l's output), after the residual sum and before the dropout that the next layer reads through.
        T[] dY = Workspace.Allocate<T>(rows * W);
        if (!dOutput.IsEmpty) dOutput.CopyTo(dY);
        var norms = stepGradientNorms is null ? null : new double[steps];
        var half = Workspace.Allocate<T>(rows * H);
        for (int l = L - 1; l >= 0; l--)
        {
            int inWidth = weights[l * D].InputSize;
            // dL/d(this layer's input): layer l − 1's dropped output, or x for layer 0.
            T[] dInput = l > 0 ? Workspace.Allocate<T>(rows * inWidth) : [];
            Span<T> dLayerInput = l > 0 ? dInput : dx;
            if (norms is not null) Array.Clear(norms);
            for (int d = 0; d < D; d++)
            {
                int k = l * D + d;
                for (int row = 0; row < rows; row++) dY.AsSpan(row * W + d * H, H).CopyTo(half.AsSpan(row * H, H));
                T[] dHalf = half;
                T[] dReversedInput = [];
                if (d == 1)
                {
                    dHalf = Workspace.Allocate<T>(half.Length);
                    ReverseWithin(half, dHalf, steps, batch, H, real);
                    if (!dLayerInput.IsEmpty) dReversedInput = Workspace.Allocate<T>(rows * inWidth);
                }
                var directionNorms = norms is null ? [] : new double[steps];
                RecurrentLayerKernel<T, TCell>.Backward(weights[k], forward.Caches[k], dHalf,
                    StateSlice(dhN, k, BH), TCell.HasCellState ? StateSlice(dcN, k, BH) : [],
                    grads[k], d == 1 ? dReversedInput : dLayerInput,
                    dh0.IsEmpty ? [] : dh0.Slice(k * BH, BH),
                    dc0.IsEmpty || !TCell.HasCellState ? [] : dc0.Slice(k * BH, BH),
                    directionNorms);
                if (dReversedInput.Length > 0)
                {
                    // The reversal is a permutation: its gradient is the same reversal.
                    var back = Workspace.Allocate<T>(dReversedInput.Length);
                    ReverseWithin(dReversedInput, back, steps, batch, inWidth, real);
                    TensorPrimitives.Add(dLayerInput, back, dLayerInput);
                    Workspace.Release(back);
                    Workspace.Release(dReversedInput);
                }
                if (d == 1) Workspace.Release(dHalf);
                if (norms is not null)
                    for (int t = 0; t < steps; t++) norms[t] += directionNorms[t] * directionNorms[t];
            }
            if (norms is not null) stepGradientNorms![l] = norms.Select(Math.Sqrt).ToArray();
            if (l == 0)
            {
                Workspace.Release(dY);
                break;
            }
            // y_l = f(x_l) + x_l: x_l also receives dL/dy_l directly.
            if (forward.Residual && HasResidual(l)) TensorPrimitives.Add(dInput, dY, dInput);
            // x_l = y_{l−1} ⊙ mask_{l−1}.
            if (forward.Masks is { } masks) TensorPrimitives.Multiply(dInput, masks[l - 1], dInput);
            Workspace.Release(dY);
            dY = dInput;
        }
        Workspace.Release(half);
    }

    /// <summary>
    /// Reverses each sequence within its own length: dst[t, b] = src[n_b − 1 − t, b] for t &lt; n_b, and
    /// dst[t, b] = src[t, b] at padded steps t ≥ n_b. Time-major [T, B, F]; its own inverse.
    /// </summary>
    public static void ReverseWithin(ReadOnlySpan<T> src, Span<T> dst, int steps, int batch, int features, ReadOnlySpan<int> lengths)
    {
        for (int b = 0; b < batch; b++)
        {
            int n = lengths[b];
            for (int t = 0; t < steps; t++)
            {
                int from = t < n ? n - 1 - t : t;
                src.Slice((from * batch + b) * features, features).CopyTo(dst.Slice((t * batch + b) * features, features));
            }
        }
    }

    /// <summary>Fraction of saturated gates per layer ([L]), pooled over the directions (which see the same steps).</summary>
    public static double[] SaturatedFraction(DeepRecurrentResult<T> forward)
    {
        int D = forward.Directions, L = forward.Caches.Count / D;
        var result = new double[L];
        for (int l = 0; l < L; l++)
        {
            double sum = 0;
            for (int d = 0; d < D; d++) sum += RecurrentLayerKernel<T, TCell>.SaturatedFraction(forward.Caches[l * D + d]);
            result[l] = sum / D;
        }
        return result;
    }

    private static ReadOnlySpan<T> StateSlice(ReadOnlySpan<T> state, int index, int bh) =>
        state.IsEmpty ? [] : state.Slice(index * bh, bh);

    private static void CheckState(ReadOnlySpan<T> state, int expected, string name)
    {
        if (!state.IsEmpty && state.Length != expected)
            throw new ArgumentException($"{TCell.DisplayName} {name} must hold {expected} values; found {state.Length}.", name);
    }
}
