namespace Recur.Tensors;

/// <summary>
/// Bytes of activation memory the engine holds, as counted by a <see cref="Workspace"/> meter: the current
/// amount and its high-water mark since the last <see cref="Reset"/>. Thread-safe (interlocked).
/// </summary>
public sealed class WorkspaceMeter
{
    private long _current, _peak;

    /// <summary>Bytes allocated and not yet released while this meter was active.</summary>
    public long Current => Interlocked.Read(ref _current);

    /// <summary>The highest <see cref="Current"/> since the last <see cref="Reset"/>.</summary>
    public long Peak => Interlocked.Read(ref _peak);

    /// <summary>Starts a new measurement (e.g. one training step): current and peak back to 0.</summary>
    public void Reset()
    {
        Interlocked.Exchange(ref _current, 0);
        Interlocked.Exchange(ref _peak, 0);
    }

    internal void Add(long bytes)
    {
        long now = Interlocked.Add(ref _current, bytes);
        long peak;
        while (now > (peak = Interlocked.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak) { }
    }
}

/// <summary>
/// The engine's own count of its activation buffers (not process memory): every tensor the tape-recorded
/// operations allocate (<see cref="Tensor(int[])"/>: layer outputs, gradients of intermediate values, batches) and
/// every buffer the recurrent kernels allocate through <see cref="Allocate{T}"/> (the forward caches h, c and the
/// saved gate values, the input-projection and gate buffers, the [T, B, ·] layout swaps, the backward's gate
/// gradients). Kernels <see cref="Release{T}"/> the buffers they drop before returning; what a training step's
/// tape holds stays counted until the step ends, as it stays reachable until then.
/// </summary>
/// <remarks>
/// Counting happens only inside <see cref="Measure"/>, into the meter given there; the meter flows with the
/// execution context (an <see cref="AsyncLocal{T}"/>), so concurrent trainings each count their own buffers and the
/// count does not depend on scheduling: kernels allocate on the calling thread, before their parallel parts.
/// Outside a measurement nothing is counted and the cost is one context lookup per allocation.
/// </remarks>
public static class Workspace
{
    private static readonly AsyncLocal<WorkspaceMeter?> Active = new();

    /// <summary>The meter counting now, if any.</summary>
    public static WorkspaceMeter? Meter => Active.Value;

    /// <summary>Counts this context's engine allocations into <paramref name="meter"/> until the result is disposed.</summary>
    public static IDisposable Measure(WorkspaceMeter meter)
    {
        var previous = Active.Value;
        Active.Value = meter;
        return new Scope(previous);
    }

    /// <summary>A new zeroed array, counted as workspace while a meter is active.</summary>
    public static T[] Allocate<T>(int length) where T : struct
    {
        var buffer = new T[length];
        Count<T>(length);
        return buffer;
    }

    /// <summary>Tells the meter that a buffer from <see cref="Allocate{T}"/> is no longer used.</summary>
    public static void Release<T>(T[] buffer) where T : struct => Count<T>(-(long)buffer.Length);

    internal static void Count<T>(long elements) where T : struct
    {
        if (Active.Value is { } meter && elements != 0) meter.Add(elements * System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
    }

    private sealed class Scope(WorkspaceMeter? previous) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            Active.Value = previous;
        }
    }
}
