namespace Recur.Tensors;

/// <summary>Layout conversions between the public batch-major [B, T, F] and the kernels' time-major [T, B, F].</summary>
public static class Layout
{
    /// <summary>dst[j, i, :] = src[i, j, :] for src: [d0, d1, F], dst: [d1, d0, F].</summary>
    public static void SwapLeadingAxes<T>(ReadOnlySpan<T> src, int d0, int d1, int features, Span<T> dst)
    {
        int n = d0 * d1 * features;
        if (src.Length != n || dst.Length != n)
            throw new ArgumentException($"SwapLeadingAxes: [{d0}, {d1}, {features}] needs {n} values; found source {src.Length}, destination {dst.Length}.");
        for (int i = 0; i < d0; i++)
            for (int j = 0; j < d1; j++)
                src.Slice((i * d1 + j) * features, features).CopyTo(dst.Slice((j * d0 + i) * features, features));
    }

    /// <summary>A new array holding src: [d0, d1, F] as [d1, d0, F] (counted as <see cref="Workspace"/>).</summary>
    public static T[] SwapLeadingAxes<T>(ReadOnlySpan<T> src, int d0, int d1, int features) where T : struct
    {
        var dst = Workspace.AllocateUninitialized<T>(src.Length); // every element is copied
        SwapLeadingAxes(src, d0, d1, features, dst);
        return dst;
    }
}
