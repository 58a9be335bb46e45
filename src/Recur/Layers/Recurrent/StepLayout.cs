namespace Recur.Layers.Recurrent;

/// <summary>
/// Where step t of sequence b sits in a recurrent layer's per-step buffers (states, saved gate values, gate
/// gradients: rows of [steps, B, width]), given the parts the forward pass split the batch into (part p owns sequences
/// [<see cref="PartStart(int)"/>(p), <see cref="PartStart(int)"/>(p + 1))).
/// </summary>
/// <remarks>
/// <para>Time-major: row t·B + b. Part-major: part p, with first sequence r0 and n sequences, owns the contiguous block
/// of rows [r0·T, (r0 + n)·T), and step t of its sequences is rows r0·T + t·n … r0·T + t·n + n − 1. Time-major, the
/// parts' rows of one step lie next to each other and every step's write of one core lands beside the other's: on a
/// host whose two virtual processors sit far apart (a cross-core cache-line round trip of 350–880 ns instead of
/// 90–190) config a's forward pass took 394–420 µs on two threads, as long as on one, where each part in buffers of
/// its own took 234–332 µs.</para>
/// <para>Step T (the final states, held by the states buffers only) is time-major in either layout, after every
/// part's block: the final states are one [B, H] block, and h_0 … h_{T−1} are one [T·B, H] block whose rows pair one
/// for one with the gate gradients' for the weight-gradient products.</para>
/// </remarks>
internal sealed class StepLayout
{
    public StepLayout(int steps, int batch, int parts, bool partMajor)
    {
        (Steps, Batch, Parts) = (steps, batch, parts);
        PartMajor = partMajor && parts > 1;
    }

    /// <summary>
    /// Processors a part-major split is sized for: this machine's, whatever <see cref="Recur.Tensors.Engine.Threads"/>
    /// says, so that its parts, and with them every result, are the same at any thread count (tests set others).
    /// </summary>
    internal static int Processors = Environment.ProcessorCount;

    public int Steps { get; }
    public int Batch { get; }

    /// <summary>Parts the batch is split into by sequences (1: not split).</summary>
    public int Parts { get; }

    /// <summary>Whether each part's rows form a block of their own (see the remarks); else time-major.</summary>
    public bool PartMajor { get; }

    /// <summary>First sequence of part <paramref name="part"/> (the end of the last part is the batch).</summary>
    public int PartStart(int part) => PartStart(part, Parts, Batch);

    /// <summary>Sequences in part <paramref name="part"/>.</summary>
    public int PartSize(int part) => PartStart(part + 1) - PartStart(part);

    /// <summary>First sequence of part <paramref name="part"/> of <paramref name="parts"/>.</summary>
    public static int PartStart(int part, int parts, int batch) => (int)((long)part * batch / parts);

    /// <summary>Row of step t (0 … T) of the first sequence of the part [r0, r0 + n); its n rows follow it.</summary>
    public int Row(int t, int r0, int n) => !PartMajor || t == Steps ? t * Batch + r0 : r0 * Steps + t * n;

    /// <summary>Row of step t (0 … T) of sequence b.</summary>
    public int Row(int t, int b)
    {
        if (!PartMajor) return t * Batch + b;
        int p = 0;
        while (PartStart(p + 1) <= b) p++;
        int r0 = PartStart(p);
        return Row(t, r0, PartSize(p)) + b - r0;
    }

    /// <summary>
    /// Copies the [B, width] time-major rows of <paramref name="from"/> into step t of <paramref name="into"/> (a
    /// buffer in this layout), or clears that step when <paramref name="from"/> is empty.
    /// </summary>
    public void SetStep<T>(int t, int width, ReadOnlySpan<T> from, Span<T> into)
    {
        for (int p = 0; p < Parts; p++)
        {
            int r0 = PartStart(p), n = PartSize(p);
            var rows = into.Slice(Row(t, r0, n) * width, n * width);
            if (from.IsEmpty) rows.Clear();
            else from.Slice(r0 * width, n * width).CopyTo(rows);
        }
    }

    /// <summary>
    /// Copies steps 0 … T−1 of [T, B, width] rows from time-major into this layout's order (<paramref name="toLayout"/>)
    /// or back.
    /// </summary>
    public void Reorder<T>(int width, ReadOnlySpan<T> from, Span<T> into, bool toLayout)
    {
        for (int p = 0; p < Parts; p++)
        {
            int r0 = PartStart(p), n = PartSize(p);
            for (int t = 0; t < Steps; t++)
            {
                int timeMajor = (t * Batch + r0) * width, inLayout = Row(t, r0, n) * width;
                from.Slice(toLayout ? timeMajor : inLayout, n * width).CopyTo(into.Slice(toLayout ? inLayout : timeMajor, n * width));
            }
        }
    }
}
