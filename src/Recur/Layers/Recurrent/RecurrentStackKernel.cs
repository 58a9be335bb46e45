using System.Numerics;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>Forward results of a layer stack, time-major, with the per-layer caches for backward.</summary>
public sealed class RecurrentStackResult<T> where T : struct
{
    internal RecurrentStackResult(RecurrentLayerCache<T>[] layers, T[] finalHidden, T[] finalCell)
    {
        Layers = layers;
        FinalHidden = finalHidden;
        FinalCell = finalCell;
    }

    public IReadOnlyList<RecurrentLayerCache<T>> Layers { get; }

    /// <summary>The last layer's outputs h_1 … h_T: [T, B, H] (zero at padded steps).</summary>
    public ReadOnlyMemory<T> Output => Layers[^1].Output;

    /// <summary>h_T of every layer: [L, B, H] (with lengths, each sequence's h at its last real step).</summary>
    public T[] FinalHidden { get; }

    /// <summary>c_T of every layer: [L, B, H] (at each sequence's last real step); empty without cell state.</summary>
    public T[] FinalCell { get; }

    /// <summary>
    /// Returns every layer's cache to the <see cref="Workspace"/> pool (so <see cref="Output"/> too);
    /// <see cref="FinalHidden"/> and <see cref="FinalCell"/> stay, as callers keep them as the next state.
    /// </summary>
    internal void Release()
    {
        foreach (var cache in Layers) cache.Release();
    }
}

/// <summary>
/// L stacked layers of one cell type, each layer's output sequence the next one's input. Time-major; L layers,
/// other letters as <see cref="IRecurrentCell"/>.
/// </summary>
public static class RecurrentStackKernel<T, TCell>
    where T : struct, IFloatingPointIeee754<T>
    where TCell : IRecurrentCell
{
    /// <summary>
    /// x: [T, B, I]; h0, c0: [L, B, H] or empty for zeros (c0 only with cell state); lengths: [B] real steps of
    /// each right-padded sequence, or empty when all have T steps. Every layer masks with the same lengths: its
    /// output is zero at padded steps (so the next layer sees zeros there) and its state is carried, so the final
    /// states are each sequence's states at its last real step. options: one entry per layer (null entries, or a
    /// null list, for none): that layer's dropout masks and zoneout (<see cref="RecurrentLayerOptions{T}"/>).
    /// keepForBackward: false for inference, whose caches keep only one step of gate values (no backward pass).
    /// batchMajorOutput: when given, [B, T, H] receives the last layer's output instead of its cache
    /// (<see cref="RecurrentStackResult{T}.Output"/> is then unavailable).
    /// </summary>
    public static RecurrentStackResult<T> Forward(IReadOnlyList<RecurrentLayerWeights<T>> layers, ReadOnlyMemory<T> x, int steps, int batch,
        ReadOnlySpan<T> h0, ReadOnlySpan<T> c0, ReadOnlySpan<int> lengths = default, IReadOnlyList<RecurrentLayerOptions<T>?>? options = null,
        bool keepForBackward = true, T[]? batchMajorOutput = null)
    {
        int L = layers.Count, H = layers[0].HiddenSize, BH = batch * H;
        if (options is not null && options.Count != L)
            throw new ArgumentException($"{TCell.DisplayName} options must hold one entry per layer ({L}); found {options.Count}.", nameof(options));
        CheckState(h0, L * BH, "h0");
        CheckState(c0, L * BH, "c0");
        var caches = new RecurrentLayerCache<T>[L];
        var finalHidden = Workspace.Allocate<T>(L * BH);
        var finalCell = TCell.HasCellState ? Workspace.Allocate<T>(L * BH) : [];
        ReadOnlyMemory<T> input = x;
        int chunkSteps = StackWavefront<T, TCell>.ChunkSteps(layers, steps, batch, keepForBackward);
        var passes = chunkSteps > 0 ? new RecurrentLayerKernel<T, TCell>.ForwardPass[L] : null;
        int prepared = 0;
        try
        {
            if (passes is not null)
            {
                // All layers at once, chunk by chunk (see StackWavefront).
                for (int l = 0; l < L; l++)
                {
                    passes[l] = RecurrentLayerKernel<T, TCell>.Prepare(layers[l], input, steps, batch,
                        StateSlice(h0, l, BH), TCell.HasCellState ? StateSlice(c0, l, BH) : [], lengths, options?[l], keepForBackward,
                        l == L - 1 ? batchMajorOutput : null, chunkSteps);
                    prepared++;
                    if (l < L - 1) input = passes[l].Cache.Output;
                }
                StackWavefront<T, TCell>.Run(passes);
                for (int l = 0; l < L; l++) caches[l] = passes[l].Finish();
            }
            else for (int l = 0; l < L; l++)
            {
                var cache = RecurrentLayerKernel<T, TCell>.Forward(layers[l], input, steps, batch,
                    StateSlice(h0, l, BH), TCell.HasCellState ? StateSlice(c0, l, BH) : [], lengths, options?[l], keepForBackward,
                    l == L - 1 ? batchMajorOutput : null);
                caches[l] = cache;
                if (l < L - 1) input = cache.Output;
            }
        }
        catch
        {
            // A layer that cannot run (weights that do not fit the layer below, a fault inside a kernel) gives back what
            // the layers before it hold, so a caller that goes on finds the workspace as it was.
            for (int l = 0; l < L; l++)
            {
                if (caches[l] is { } cache) cache.Release();
                else if (l < prepared) passes![l].Finish().Release();
            }
            Workspace.Release(finalHidden);
            Workspace.Release(finalCell);
            throw;
        }
        for (int l = 0; l < L; l++)
        {
            caches[l].FinalHidden.CopyTo(finalHidden.AsSpan(l * BH));
            if (TCell.HasCellState) caches[l].FinalCell.CopyTo(finalCell.AsSpan(l * BH));
        }
        return new RecurrentStackResult<T>(caches, finalHidden, finalCell);
    }

    /// <summary>
    /// dOutput: [T, B, H], or [B, T, H] with dOutputBatchMajor (empty = none); dhN, dcN: [L, B, H] (empty = none). Adds into each layer's gradients
    /// and into dx: [T, B, I] when not empty; writes dh0, dc0: [L, B, H] when not empty, and each layer's
    /// ‖dL/dh_t‖ into stepGradientNorms[l]: [T] when given. Masking follows the lengths kept in each layer's cache.
    /// </summary>
    public static void Backward(IReadOnlyList<RecurrentLayerWeights<T>> layers, RecurrentStackResult<T> forward,
        ReadOnlySpan<T> dOutput, ReadOnlySpan<T> dhN, ReadOnlySpan<T> dcN,
        IReadOnlyList<RecurrentLayerWeights<T>> grads, Span<T> dx, Span<T> dh0, Span<T> dc0, double[][]? stepGradientNorms = null,
        bool dOutputBatchMajor = false)
    {
        int L = layers.Count;
        var caches = forward.Layers;
        int BH = caches[0].Batch * caches[0].Hidden;
        CheckState(dhN, L * BH, "dhN");
        CheckState(dcN, L * BH, "dcN");
        // The top layer reads the caller's dOutput; each layer below reads the gradient the layer above wrote.
        T[]? dLayerOutput = null;
        for (int l = L - 1; l >= 0; l--)
        {
            // The gradient reaching this layer's input is the layer below's output gradient.
            T[] dInput = l > 0 ? Workspace.Allocate<T>(caches[l].Input.Length) : [];
            RecurrentLayerKernel<T, TCell>.Backward(layers[l], caches[l], dLayerOutput is null ? dOutput : dLayerOutput,
                StateSlice(dhN, l, BH), TCell.HasCellState ? StateSlice(dcN, l, BH) : [],
                grads[l], l > 0 ? dInput : dx,
                dh0.IsEmpty ? [] : dh0.Slice(l * BH, BH),
                dc0.IsEmpty || !TCell.HasCellState ? [] : dc0.Slice(l * BH, BH),
                stepGradientNorms is null ? [] : stepGradientNorms[l], dLayerOutput is null && dOutputBatchMajor);
            if (dLayerOutput is not null) Workspace.Release(dLayerOutput);
            dLayerOutput = dInput;
        }
    }

    private static ReadOnlySpan<T> StateSlice(ReadOnlySpan<T> state, int layer, int bh) =>
        state.IsEmpty ? [] : state.Slice(layer * bh, bh);

    private static void CheckState(ReadOnlySpan<T> state, int expected, string name)
    {
        if (!state.IsEmpty && state.Length != expected)
            throw new ArgumentException($"{TCell.DisplayName} {name} must hold [L, B, H] = {expected} values; found {state.Length}.", name);
    }
}
