using System.Numerics;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// How a checkpointed time loop cuts T steps into segments of K (the last one shorter when K does not divide T),
/// and what one layer sees over one segment: its lengths, its slice of the zoneout masks, its recomputed cache.
/// Steps are counted in a direction's own reading order (for a reverse direction, step 0 is each sequence's last
/// real step), which is the order its zoneout masks and lengths are in.
/// </summary>
internal static class TimeSegments
{
    /// <summary>S = ⌈T / K⌉.</summary>
    public static int Count(int steps, int segment) => (steps + segment - 1) / segment;

    /// <summary>Real steps of each sequence within steps start … start+k−1: clamp(n_b − start, 0, k); empty when lengths is.</summary>
    public static int[] Lengths(ReadOnlySpan<int> lengths, int start, int k)
    {
        var segment = new int[lengths.Length];
        for (int b = 0; b < lengths.Length; b++) segment[b] = Math.Clamp(lengths[b] - start, 0, k);
        return segment;
    }

    /// <summary>Real (unpadded) sequence-steps among steps start … start+k−1, the weight of the segment's saturation.</summary>
    public static long RealRows(ReadOnlySpan<int> lengths, int batch, int start, int k)
    {
        if (lengths.IsEmpty) return (long)batch * k;
        long rows = 0;
        foreach (int n in lengths) rows += Math.Clamp(n - start, 0, k);
        return rows;
    }

    /// <summary>
    /// One segment's options: the per-sequence dropout masks are shared by every segment (they hold for all steps);
    /// the per-step zoneout masks [T, B, H] are sliced to [k, B, H] copies, added to <paramref name="made"/> for release.
    /// </summary>
    public static RecurrentLayerOptions<T>? Options<T>(RecurrentLayerOptions<T>? options, int start, int k, int bh, List<T[]> made)
        where T : struct
    {
        if (options is null) return null;
        T[]? Slice(T[]? perStep)
        {
            if (perStep is null) return null;
            var slice = Workspace.Allocate<T>(k * bh);
            perStep.AsSpan(start * bh, k * bh).CopyTo(slice);
            made.Add(slice);
            return slice;
        }
        return new RecurrentLayerOptions<T>
        {
            InputMask = options.InputMask, RecurrentMask = options.RecurrentMask,
            ZoneoutHidden = Slice(options.ZoneoutHidden), ZoneoutCell = Slice(options.ZoneoutCell), Zoneout = options.Zoneout,
        };
    }

    /// <summary>
    /// <see cref="RecurrentLayerKernel{T, TCell}.Forward"/> over one segment; the cache is also added to
    /// <paramref name="held"/>, so that <see cref="Drop"/> can give its buffers back when the segment is done.
    /// </summary>
    public static RecurrentLayerCache<T> Run<T, TCell>(RecurrentLayerWeights<T> weights, ReadOnlyMemory<T> x, int k, int batch,
        ReadOnlySpan<T> h0, ReadOnlySpan<T> c0, ReadOnlySpan<int> lengths, RecurrentLayerOptions<T>? options, List<RecurrentLayerCache<T>> held)
        where T : struct, IFloatingPointIeee754<T>
        where TCell : IRecurrentCell
    {
        var cache = RecurrentLayerKernel<T, TCell>.Forward(weights, x, k, batch, h0, TCell.HasCellState ? c0 : [], lengths, options);
        held.Add(cache);
        return cache;
    }

    /// <summary>Gives the segment caches in <paramref name="held"/> and the buffers in <paramref name="made"/> back to the workspace.</summary>
    public static void Drop<T>(List<RecurrentLayerCache<T>> held, List<T[]> made) where T : struct
    {
        foreach (var cache in held) cache.Release();
        held.Clear();
        foreach (var buffer in made) Workspace.Release(buffer);
        made.Clear();
    }

    /// <summary>Index of row (t, b) in a sequence stored time-major [T, B, F] or batch-major [B, T, F].</summary>
    public static int Row(int t, int b, int steps, int batch, bool batchMajor) => batchMajor ? b * steps + t : t * batch + b;

    /// <summary>Rows start … start+k−1 of a sequence ([T, B, F] or batch-major [B, T, F]) into a time-major segment [k, B, F].</summary>
    public static void Gather<T>(ReadOnlySpan<T> sequence, int steps, int batch, int features, bool batchMajor, int start, int k, Span<T> segment)
    {
        for (int t = 0; t < k; t++)
            for (int b = 0; b < batch; b++)
                sequence.Slice(Row(start + t, b, steps, batch, batchMajor) * features, features).CopyTo(segment.Slice((t * batch + b) * features, features));
    }

    /// <summary>A time-major segment [k, B, F] back into rows start … start+k−1 of a sequence, copied or (add) added.</summary>
    public static void Scatter<T>(ReadOnlySpan<T> segment, int steps, int batch, int features, bool batchMajor, int start, int k, Span<T> sequence, bool add)
        where T : struct, INumberBase<T>
    {
        for (int t = 0; t < k; t++)
            for (int b = 0; b < batch; b++)
            {
                var from = segment.Slice((t * batch + b) * features, features);
                var into = sequence.Slice(Row(start + t, b, steps, batch, batchMajor) * features, features);
                if (add) System.Numerics.Tensors.TensorPrimitives.Add(into, from, into);
                else from.CopyTo(into);
            }
    }

    public static void CheckSegment(int segment)
    {
        if (segment < 1) throw new ArgumentOutOfRangeException(nameof(segment), segment, "The checkpoint segment length K must be at least 1.");
    }
}
