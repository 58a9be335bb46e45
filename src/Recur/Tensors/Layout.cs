using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Recur.Tensors;

/// <summary>Layout conversions between the public batch-major [B, T, F] and the kernels' time-major [T, B, F].</summary>
public static class Layout
{
    /// <summary>
    /// Fewest values whose swap is one parallel phase, each thread taking an equal range of the leading axis (the
    /// batch split's sequences, for the batch-major input of a recurrent layer): the rows a thread writes are those its
    /// part of the layer reads next, where on one thread the other core's rows had to be handed across to it. Config
    /// a's training step (a [32, 50, 8] input), in blocks of 100 steps alternating: 8–16 µs faster in all 4 runs while
    /// cross-core hand-offs were slow (1.40–1.44 ms a step), 1–5 µs faster in 8 of 10 while they were fast (1.06–1.09
    /// ms; 0.6 and 1.1 µs slower in the other two).
    /// </summary>
    internal const int MinValuesToSplit = 1 << 13;

    /// <summary>dst[j, i, :] = src[i, j, :] for src: [d0, d1, F], dst: [d1, d0, F].</summary>
    public static unsafe void SwapLeadingAxes<T>(ReadOnlySpan<T> src, int d0, int d1, int features, Span<T> dst) where T : struct
    {
        int n = d0 * d1 * features;
        if (src.Length != n || dst.Length != n)
            throw new ArgumentException($"SwapLeadingAxes: [{d0}, {d1}, {features}] needs {n} values; found source {src.Length}, destination {dst.Length}.");
        int rowBytes = features * Unsafe.SizeOf<T>();
        int parts = n < MinValuesToSplit ? 1 : Math.Min(d0, Engine.AvailableThreads);
        fixed (byte* s = MemoryMarshal.AsBytes(src), d = MemoryMarshal.AsBytes(dst))
        {
            if (parts == 1)
            {
                SwapRows(s, d, d0, d1, rowBytes, 0, d0);
                return;
            }
            var phase = t_phase ??= new SwapPhase();
            phase.Source = s;
            phase.Destination = d;
            (phase.D0, phase.D1, phase.RowBytes, phase.Parts) = (d0, d1, rowBytes, parts);
            Engine.Run(parts, phase.Part);
        }
    }

    /// <summary>A new array holding src: [d0, d1, F] as [d1, d0, F] (counted as <see cref="Workspace"/>).</summary>
    public static T[] SwapLeadingAxes<T>(ReadOnlySpan<T> src, int d0, int d1, int features) where T : struct
    {
        var dst = Workspace.AllocateUninitialized<T>(src.Length); // every element is copied
        SwapLeadingAxes(src, d0, d1, features, dst);
        return dst;
    }

    /// <summary>Rows i ∈ [i0, i1) of the swap, each row <paramref name="rowBytes"/> bytes: dst[j, i] = src[i, j].</summary>
    private static unsafe void SwapRows(byte* src, byte* dst, int d0, int d1, int rowBytes, int i0, int i1)
    {
        for (int i = i0; i < i1; i++)
            for (int j = 0; j < d1; j++)
                new ReadOnlySpan<byte>(src + ((nint)i * d1 + j) * rowBytes, rowBytes).CopyTo(new Span<byte>(dst + ((nint)j * d0 + i) * rowBytes, rowBytes));
    }

    // The calling thread's split swap (pinned operands, as pointers, for the duration of its phase), so a swap
    // allocates no closure.
    [ThreadStatic] private static SwapPhase? t_phase;

    private sealed unsafe class SwapPhase
    {
        internal byte* Source, Destination;
        internal int D0, D1, RowBytes, Parts;
        internal readonly Action<int> Part;

        internal SwapPhase() => Part = p => SwapRows(Source, Destination, D0, D1, RowBytes, RowStart(p), RowStart(p + 1));

        private int RowStart(int part) => (int)((long)part * D0 / Parts);
    }
}
