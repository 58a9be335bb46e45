using System.Numerics;
using System.Numerics.Tensors;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// What one layer's forward pass keeps for its backward pass. Hs: [(T+1), B, H] holds the states h_0 … h_T;
/// Cs likewise (empty without cell state); Saved: [T, B, S·H].
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
    private readonly T[]? _maskedOutput;

    internal RecurrentLayerCache(int steps, int batch, int hidden, bool hasCellState, int savedWidth, ReadOnlyMemory<T> input,
        int[] lengths)
    {
        (Steps, Batch, Hidden) = (steps, batch, hidden);
        Input = input;
        Lengths = lengths;
        Hs = Workspace.Allocate<T>((steps + 1) * batch * hidden);
        Cs = hasCellState ? Workspace.Allocate<T>((steps + 1) * batch * hidden) : [];
        Saved = Workspace.Allocate<T>(steps * batch * savedWidth * hidden);
        _maskedOutput = lengths.Length == 0 ? null : Workspace.Allocate<T>(steps * batch * hidden);
    }

    public int Steps { get; }
    public int Batch { get; }
    public int Hidden { get; }

    /// <summary>The layer's input x: [T, B, I] (a reference, not a copy).</summary>
    public ReadOnlyMemory<T> Input { get; }

    /// <summary>
    /// Real steps of each sequence: [B], every value in 0 … T; empty when every sequence has all T steps (no
    /// masking).
    /// </summary>
    public ReadOnlyMemory<int> Lengths { get; }

    /// <summary>Whether step <paramref name="step"/> of sequence <paramref name="sequence"/> is padding.</summary>
    public bool IsPadded(int step, int sequence) => Lengths.Length != 0 && step >= Lengths.Span[sequence];

    /// <summary>States h_0 … h_T: [T+1, B, H] (carried through padded steps).</summary>
    public T[] Hs { get; }

    /// <summary>Cell states c_0 … c_T: [T+1, B, H] (carried through padded steps); empty without cell state.</summary>
    public T[] Cs { get; }
    public T[] Saved { get; }

    /// <summary>Output sequence h_1 … h_T: [T, B, H], exactly zero at padded steps.</summary>
    public ReadOnlyMemory<T> Output => _maskedOutput ?? Hs.AsMemory(Batch * Hidden);

    /// <summary>The separate output buffer the forward pass fills when sequences are masked.</summary>
    internal T[]? MaskedOutput => _maskedOutput;

    /// <summary>Each sequence's state at its last real step (h_0 for a length of 0): [B, H].</summary>
    public ReadOnlySpan<T> FinalHidden => Hs.AsSpan(Steps * Batch * Hidden, Batch * Hidden);
    /// <summary>Each sequence's cell state at its last real step: [B, H]; empty without cell state.</summary>
    public ReadOnlySpan<T> FinalCell => Cs.Length == 0 ? [] : Cs.AsSpan(Steps * Batch * Hidden, Batch * Hidden);
}

/// <summary>
/// The time loop shared by every recurrent cell, for one layer and direction, time-major. The input projection
/// for all steps is one GEMM before the loop; only the recurrent product runs per step; weight gradients are
/// GEMMs over all steps after the backward loop. All buffers are allocated before the loop.
/// </summary>
public static class RecurrentLayerKernel<T, TCell>
    where T : struct, IFloatingPointIeee754<T>
    where TCell : IRecurrentCell
{
    /// <summary>
    /// Runs the layer over x: [T, B, I] from h0, c0: [B, H] (empty spans mean zeros; c0 ignored without cell
    /// state) and returns the cache, whose <see cref="RecurrentLayerCache{T}.Output"/> is [T, B, H].
    /// lengths: [B] real steps of each right-padded sequence, each in 0 … T; empty means every sequence has T
    /// steps. At a padded step t ≥ lengths[b] the state of sequence b is carried unchanged (h_t = h_{t−1},
    /// c_t = c_{t−1}) and its output is zero, as PyTorch's <c>pack_padded_sequence</c>; only those rows are fixed
    /// up after each cell step.
    /// </summary>
    public static RecurrentLayerCache<T> Forward(RecurrentLayerWeights<T> w, ReadOnlyMemory<T> x, int steps, int batch,
        ReadOnlySpan<T> h0, ReadOnlySpan<T> c0, ReadOnlySpan<int> lengths = default)
    {
        int I = w.InputSize, H = w.HiddenSize, G = TCell.GateCount, GH = G * H, BH = batch * H;
        if (x.Length != steps * batch * I)
            throw new ArgumentException($"{TCell.DisplayName} layer input must be [T={steps}, B={batch}, I={I}] = {steps * batch * I} values; found {x.Length}.", nameof(x));
        CheckState(h0, BH, "h0");
        if (TCell.HasCellState) CheckState(c0, BH, "c0");

        int[] mask = CheckLengths(lengths, steps, batch);

        var cache = new RecurrentLayerCache<T>(steps, batch, H, TCell.HasCellState, TCell.SavedWidth, x, mask);
        if (!h0.IsEmpty) h0.CopyTo(cache.Hs);
        if (TCell.HasCellState && !c0.IsEmpty) c0.CopyTo(cache.Cs);

        // xGates = x·W_ihᵀ + b_ih for all steps at once: [T·B, G·H]
        var xGates = Workspace.Allocate<T>(steps * batch * GH);
        Gemm.Multiply<T>(false, true, steps * batch, GH, I, x.Span, w.InputWeights, xGates, accumulate: false);
        Rows.AddBias<T>(xGates, w.InputBias);

        var hGates = Workspace.Allocate<T>(batch * GH); // [B, G·H], reused every step
        // W_hhᵀ: [H, G·H], transposed once so every step's product reads it row-major (no per-step repacking of a
        // transposed operand).
        var recurrentTransposed = Workspace.Allocate<T>(H * GH);
        for (int g = 0; g < GH; g++)
            for (int k = 0; k < H; k++) recurrentTransposed[k * GH + g] = w.RecurrentWeights[g * H + k];
        int savedStep = batch * TCell.SavedWidth * H;
        for (int t = 0; t < steps; t++)
        {
            // hGates = h_{t−1}·W_hhᵀ + b_hh
            for (int b = 0; b < batch; b++) w.RecurrentBias.CopyTo(hGates.AsSpan(b * GH, GH));
            Gemm.Multiply<T>(false, false, batch, GH, H, cache.Hs.AsSpan(t * BH, BH), recurrentTransposed, hGates, accumulate: true);
            TCell.Forward<T>(batch, H,
                xGates.AsSpan(t * batch * GH, batch * GH), hGates,
                cache.Hs.AsSpan(t * BH, BH), CellSlice(cache.Cs, t, BH),
                cache.Saved.AsSpan(t * savedStep, savedStep),
                cache.Hs.AsSpan((t + 1) * BH, BH), CellSlice(cache.Cs, t + 1, BH));
            // Padded rows carry the previous state over what the cell computed.
            for (int b = 0; b < mask.Length; b++)
            {
                if (t < mask[b]) continue;
                cache.Hs.AsSpan(t * BH + b * H, H).CopyTo(cache.Hs.AsSpan((t + 1) * BH + b * H, H));
                if (TCell.HasCellState) cache.Cs.AsSpan(t * BH + b * H, H).CopyTo(cache.Cs.AsSpan((t + 1) * BH + b * H, H));
            }
        }
        if (cache.MaskedOutput is { } output)
        {
            // Output = h_1 … h_T with the padded rows zero.
            cache.Hs.AsSpan(BH).CopyTo(output);
            for (int b = 0; b < batch; b++)
                for (int t = mask[b]; t < steps; t++) output.AsSpan(t * BH + b * H, H).Clear();
        }
        Workspace.Release(xGates);
        Workspace.Release(hGates);
        Workspace.Release(recurrentTransposed);
        return cache;
    }

    /// <summary>
    /// Backward through the layer. dOutput: [T, B, H] (empty = no gradient on the sequence), dhT, dcT: [B, H]
    /// (empty = none). Adds into <paramref name="grads"/> and, when not empty, into dx: [T, B, I]; writes
    /// dh0, dc0: [B, H] when not empty, and ‖dL/dh_t‖ over the batch into stepGradientNorms: [T] when not empty.
    /// </summary>
    /// <remarks>
    /// With the forward pass's lengths, a padded step contributes nothing: its gate gradients are zero (so no weight
    /// or input gradient), dOutput there is ignored (the output was a constant zero), and dL/dh, dL/dc pass through
    /// the carried state unchanged.
    /// </remarks>
    public static void Backward(RecurrentLayerWeights<T> w, RecurrentLayerCache<T> cache,
        ReadOnlySpan<T> dOutput, ReadOnlySpan<T> dhT, ReadOnlySpan<T> dcT,
        RecurrentLayerWeights<T> grads, Span<T> dx, Span<T> dh0, Span<T> dc0, Span<double> stepGradientNorms = default)
    {
        int steps = cache.Steps, batch = cache.Batch;
        int I = w.InputSize, H = w.HiddenSize, GH = TCell.GateCount * H, BH = batch * H, rows = steps * batch;
        CheckState(dOutput, steps * BH, "dOutput");
        CheckState(dhT, BH, "dhT");
        CheckState(dcT, BH, "dcT");
        var mask = cache.Lengths.Span;

        // dL/d(xGates) and dL/d(hGates) for all steps: [T, B, G·H]
        var dXGates = Workspace.Allocate<T>(rows * GH);
        var dHGates = TCell.SharesGateGradient ? dXGates : Workspace.Allocate<T>(rows * GH);
        var dhNext = Workspace.Allocate<T>(BH);
        var dcNext = Workspace.Allocate<T>(BH);
        var dhTotal = Workspace.Allocate<T>(BH);
        var dhPrev = Workspace.Allocate<T>(BH);
        var dcPrev = Workspace.Allocate<T>(BH);
        if (!dhT.IsEmpty) dhT.CopyTo(dhNext);
        if (!dcT.IsEmpty) dcT.CopyTo(dcNext);

        int savedStep = batch * TCell.SavedWidth * H;
        for (int t = steps - 1; t >= 0; t--)
        {
            // h_t feeds the output sequence and step t+1
            if (dOutput.IsEmpty) dhNext.CopyTo(dhTotal.AsSpan());
            else TensorPrimitives.Add(dOutput.Slice(t * BH, BH), dhNext, dhTotal);
            for (int b = 0; b < mask.Length; b++)
                if (t >= mask[b]) dhNext.AsSpan(b * H, H).CopyTo(dhTotal.AsSpan(b * H, H)); // padded output was a constant 0
            if (!stepGradientNorms.IsEmpty) stepGradientNorms[t] = double.CreateTruncating(TensorPrimitives.Norm<T>(dhTotal));
            TCell.Backward<T>(batch, H,
                cache.Saved.AsSpan(t * savedStep, savedStep),
                cache.Hs.AsSpan(t * BH, BH), CellSlice(cache.Cs, t, BH),
                dhTotal, dcNext,
                dXGates.AsSpan(t * batch * GH, batch * GH), dHGates.AsSpan(t * batch * GH, batch * GH),
                dhPrev, dcPrev);
            // Padded rows: no gate gradients; dL/dh and dL/dc reach the previous state unchanged (identity carry).
            for (int b = 0; b < mask.Length; b++)
            {
                if (t < mask[b]) continue;
                dXGates.AsSpan((t * batch + b) * GH, GH).Clear();
                if (!TCell.SharesGateGradient) dHGates.AsSpan((t * batch + b) * GH, GH).Clear();
                dhTotal.AsSpan(b * H, H).CopyTo(dhPrev.AsSpan(b * H, H));
                if (TCell.HasCellState) dcNext.AsSpan(b * H, H).CopyTo(dcPrev.AsSpan(b * H, H));
            }
            // hGates = h_{t−1}·W_hhᵀ  ⇒  dh_{t−1} += dHGates_t·W_hh
            Gemm.Multiply<T>(false, false, batch, H, GH, dHGates.AsSpan(t * batch * GH, batch * GH), w.RecurrentWeights, dhPrev, accumulate: true);
            (dhNext, dhPrev) = (dhPrev, dhNext);
            (dcNext, dcPrev) = (dcPrev, dcNext);
        }
        if (!dh0.IsEmpty) dhNext.CopyTo(dh0);
        if (!dc0.IsEmpty && TCell.HasCellState) dcNext.CopyTo(dc0);

        // Weight gradients over all steps at once.
        // dW_ih += dXGatesᵀ·x: [G·H, T·B]·[T·B, I];  dW_hh += dHGatesᵀ·h_{0..T−1}: [G·H, T·B]·[T·B, H]
        Gemm.Multiply<T>(true, false, GH, I, rows, dXGates, cache.Input.Span, grads.InputWeights, accumulate: true);
        Gemm.Multiply<T>(true, false, GH, H, rows, dHGates, cache.Hs.AsSpan(0, rows * H), grads.RecurrentWeights, accumulate: true);
        Rows.AddColumnSums<T>(dXGates, grads.InputBias);
        Rows.AddColumnSums<T>(dHGates, grads.RecurrentBias);
        // dx += dXGates·W_ih: [T·B, G·H]·[G·H, I]
        if (!dx.IsEmpty)
        {
            CheckState(dx, rows * I, "dx");
            Gemm.Multiply<T>(false, false, rows, I, GH, dXGates, w.InputWeights, dx, accumulate: true);
        }
        foreach (var buffer in (T[][])[dXGates, dhNext, dcNext, dhTotal, dhPrev, dcPrev]) Workspace.Release(buffer);
        if (!TCell.SharesGateGradient) Workspace.Release(dHGates);
    }

    /// <summary>
    /// Fraction of gate activations in the saturated range, where the derivative is under 5% of its peak:
    /// σ outside [0.0125, 0.9875] (σ' = y(1−y) &lt; 0.0125), |tanh| &gt; 0.975 (1 − y² &lt; 0.05). Only real
    /// steps count: padded steps of masked sequences are skipped.
    /// </summary>
    public static double SaturatedFraction(RecurrentLayerCache<T> cache)
    {
        int H = cache.Hidden, S = TCell.SavedWidth, G = TCell.GateCount;
        var saved = cache.Saved;
        long saturated = 0, total = 0;
        for (int row = 0, index = 0; row < saved.Length; row += S * H, index++) // index = t·B + b
        {
            if (cache.IsPadded(index / cache.Batch, index % cache.Batch)) continue;
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

    private static Span<T> CellSlice(T[] cs, int step, int bh) => cs.Length == 0 ? [] : cs.AsSpan(step * bh, bh);

    private static void CheckState(ReadOnlySpan<T> state, int expected, string name)
    {
        if (!state.IsEmpty && state.Length != expected)
            throw new ArgumentException($"{TCell.DisplayName} {name} must hold {expected} values; found {state.Length}.", name);
    }
}
