namespace Recur.Tensors;

/// <summary>
/// Process-wide engine settings. Work is split over threads by fixed partitions of independent outputs, so
/// results do not depend on scheduling; together with a seed they make runs bit-reproducible.
/// </summary>
public static class Engine
{
    private static int _threads = Math.Max(1, Environment.ProcessorCount);

    /// <summary>Threads the kernels may use (default: logical processors).</summary>
    public static int Threads
    {
        get => _threads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), value, "Threads must be at least 1.");
            _threads = value;
        }
    }
}
