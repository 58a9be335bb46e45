using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

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
/// The engine's activation buffers: a pool of exact-length arrays, and the count of the bytes in use. Every tensor
/// the tape-recorded operations allocate (<see cref="Tensor(int[])"/>: layer outputs, gradients of intermediate
/// values, batches) and every buffer the recurrent kernels allocate through <see cref="Allocate{T}"/> (the forward
/// caches h, c and the saved gate values, the input-projection and gate buffers, the [T, B, ·] layout swaps, the
/// backward's gate gradients) comes from here. Kernels <see cref="Release{T}"/> their temporaries before returning;
/// a recurrent module releases its caches when the tape's backward pass has consumed them (see
/// <see cref="Autograd.Tape.AfterBackward"/>), or at once when nothing was recorded.
/// </summary>
/// <remarks>
/// <para>Pooling: <see cref="Release{T}"/> keeps the array, per element type and exact length, and the next
/// <see cref="Allocate{T}"/> of that type and length hands it back cleared, so a large training step reuses last
/// step's buffers instead of making the garbage collector find, zero and page in hundreds of MiB again. Pooled
/// memory never changes a result: an array comes back zeroed (<see cref="AllocateUninitialized{T}"/> skips that
/// only for callers that write every element before reading it). The pool is bounded by
/// <see cref="PoolCapacityBytes"/> (the least recently used lengths go first), shared by every thread (locked),
/// and <see cref="Trim"/> empties it. A buffer released while something still reads it is silent corruption;
/// tests set <see cref="PoisonReleased"/>, which fills every released buffer with NaN so such a read shows.</para>
/// <para>Counting happens only inside <see cref="Measure"/>, into the meter given there: bytes in use (allocated
/// and not yet released), not bytes pooled. The meter flows with the execution context (an
/// <see cref="AsyncLocal{T}"/>), so concurrent trainings each count their own buffers and the count does not
/// depend on scheduling: kernels allocate on the calling thread, before their parallel parts. Outside a
/// measurement nothing is counted.</para>
/// </remarks>
public static class Workspace
{
    private static readonly AsyncLocal<WorkspaceMeter?> Active = new();
    private static readonly Lock Gate = new();
    // Pooled arrays by (element type, length, pinned), each list newest last; guarded by Gate.
    private static readonly Dictionary<(Type Type, int Length, bool Pinned), Bucket> Buckets = [];
    private static long _pooledBytes, _clock;
    private static long _capacityBytes = 1L << 30;

    /// <summary>
    /// The most bytes the pool keeps (default 1 GiB; 0 turns pooling off). Past it the lengths used least recently
    /// are dropped to the garbage collector. Lowering it trims the pool at once.
    /// </summary>
    public static long PoolCapacityBytes
    {
        get => Interlocked.Read(ref _capacityBytes);
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            lock (Gate)
            {
                _capacityBytes = value;
                EvictUntilFits(0, keep: null);
            }
        }
    }

    /// <summary>Bytes the pool holds now, ready to be handed out again.</summary>
    public static long PooledBytes
    {
        get { lock (Gate) return _pooledBytes; }
    }

    /// <summary>
    /// Test safety net: every released buffer is filled with NaN (all bits set, for any element type) and
    /// uninitialised allocations come NaN-filled, so a read of a released buffer, or of an element an
    /// <see cref="AllocateUninitialized{T}"/> caller forgot to write, turns results into NaN.
    /// </summary>
    internal static bool PoisonReleased { get; set; }

    /// <summary>The meter counting now, if any.</summary>
    public static WorkspaceMeter? Meter => Active.Value;

    /// <summary>Counts this context's engine allocations into <paramref name="meter"/> until the result is disposed.</summary>
    public static IDisposable Measure(WorkspaceMeter meter)
    {
        var previous = Active.Value;
        Active.Value = meter;
        return new Scope(previous);
    }

    /// <summary>A zeroed array (from the pool when one of this type and length is there), counted as workspace.</summary>
    public static T[] Allocate<T>(int length) where T : struct
    {
        var buffer = Take<T>(length, pinned: false) is { } pooled ? Cleared(pooled) : new T[length];
        Count<T>(length);
        return buffer;
    }

    /// <summary>
    /// As <see cref="Allocate{T}"/> but with arbitrary contents, for a caller that writes every element before it
    /// reads any (a GEMM with accumulate off, a copy, a layout swap).
    /// </summary>
    public static T[] AllocateUninitialized<T>(int length) where T : struct
    {
        var buffer = Take<T>(length, pinned: false) ?? GC.AllocateUninitializedArray<T>(length);
        if (PoisonReleased) Poison(buffer);
        Count<T>(length);
        return buffer;
    }

    /// <summary>
    /// Gives back a buffer from <see cref="Allocate{T}"/> that nothing reads any more: the meter counts it as free
    /// and the pool may hand it to the next allocation of this type and length. Releasing an array twice is an error.
    /// </summary>
    public static void Release<T>(T[] buffer) where T : struct
    {
        ArgumentNullException.ThrowIfNull(buffer);
        Count<T>(-(long)buffer.Length);
        Return(buffer, pinned: false);
    }

    /// <summary>
    /// A pinned array (its address never moves, so a kernel may keep a pointer into it) with arbitrary contents,
    /// from the pool's pinned arrays; not counted by the meter (the caller counts the part it uses).
    /// </summary>
    internal static T[] AllocatePinnedUninitialized<T>(int length) where T : struct =>
        Take<T>(length, pinned: true) ?? GC.AllocateUninitializedArray<T>(length, pinned: true);

    /// <summary>Gives back an array from <see cref="AllocatePinnedUninitialized{T}"/>.</summary>
    internal static void ReleasePinned<T>(T[] buffer) where T : struct => Return(buffer, pinned: true);

    private static void Return<T>(T[] buffer, bool pinned) where T : struct
    {
        if (buffer.Length == 0) return;
        if (PoisonReleased) Poison(buffer);
        long bytes = (long)buffer.Length * Unsafe.SizeOf<T>();
        lock (Gate)
        {
            var key = (typeof(T), buffer.Length, pinned);
            if (!Buckets.TryGetValue(key, out var bucket)) Buckets[key] = bucket = new Bucket(bytes);
            foreach (var pooled in bucket.Arrays)
                if (ReferenceEquals(pooled, buffer))
                    throw new InvalidOperationException($"A workspace buffer of {buffer.Length} {typeof(T).Name} values was released twice.");
            bucket.LastUsed = ++_clock;
            if (!EvictUntilFits(bytes, keep: bucket)) return; // larger than the whole pool: left to the collector
            bucket.Arrays.Add(buffer);
            _pooledBytes += bytes;
        }
    }

    /// <summary>Empties the pool (e.g. after training), leaving its arrays to the garbage collector.</summary>
    public static void Trim()
    {
        lock (Gate)
        {
            Buckets.Clear();
            _pooledBytes = 0;
        }
    }

    internal static void Count<T>(long elements) where T : struct
    {
        if (Active.Value is { } meter && elements != 0) meter.Add(elements * Unsafe.SizeOf<T>());
    }

    private static T[]? Take<T>(int length, bool pinned) where T : struct
    {
        if (length == 0) return [];
        lock (Gate)
        {
            if (!Buckets.TryGetValue((typeof(T), length, pinned), out var bucket) || bucket.Arrays.Count == 0) return null;
            var arrays = bucket.Arrays;
            var buffer = (T[])arrays[^1];
            arrays.RemoveAt(arrays.Count - 1);
            bucket.LastUsed = ++_clock;
            _pooledBytes -= bucket.ArrayBytes;
            return buffer;
        }
    }

    /// <summary>
    /// Drops the least recently used buckets (never <paramref name="keep"/>) until <paramref name="bytes"/> more fit
    /// under the capacity; false when they cannot fit at all. Caller holds Gate.
    /// </summary>
    private static bool EvictUntilFits(long bytes, Bucket? keep)
    {
        if (bytes > _capacityBytes) return false;
        while (_pooledBytes + bytes > _capacityBytes)
        {
            Bucket? oldest = null;
            foreach (var bucket in Buckets.Values)
                if (bucket != keep && bucket.Arrays.Count > 0 && (oldest is null || bucket.LastUsed < oldest.LastUsed)) oldest = bucket;
            if (oldest is not null)
            {
                _pooledBytes -= oldest.ArrayBytes * oldest.Arrays.Count;
                oldest.Arrays.Clear();
            }
            else if (keep is { Arrays.Count: > 0 })
            {
                keep.Arrays.RemoveAt(0); // only this length is pooled: drop its oldest array
                _pooledBytes -= keep.ArrayBytes;
            }
            else return false;
        }
        return true;
    }

    private static T[] Cleared<T>(T[] buffer)
    {
        Array.Clear(buffer);
        return buffer;
    }

    private static void Poison<T>(T[] buffer) where T : struct =>
        MemoryMarshal.AsBytes(buffer.AsSpan()).Fill(0xFF); // all bits set: NaN as float or double

    /// <summary>Arrays of one element type and length, newest last.</summary>
    private sealed class Bucket(long arrayBytes)
    {
        public readonly List<Array> Arrays = [];
        public readonly long ArrayBytes = arrayBytes;
        public long LastUsed;
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
