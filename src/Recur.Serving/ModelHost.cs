using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Recur.Inference;

namespace Recur.Serving;

/// <summary>One loaded model version: the predictor, the SHA-256 of the file it came from, and when it was loaded.</summary>
internal sealed record LoadedModel(Predictor Predictor, string Sha256, DateTimeOffset LoadedAt, int Version);

/// <summary>
/// A served model: its name, file, current version and micro-batcher. The file is watched (FileSystemWatcher, and a
/// poll of its size and time as a fallback); when its content hash changes, the new file is loaded and swapped in
/// atomically. Requests already prepared finish on the version they were checked against; a file that does not load
/// (e.g. still being written) leaves the current version in place.
/// </summary>
internal sealed class ModelHost : IAsyncDisposable
{
    private readonly TextWriter _log;
    private readonly FileSystemWatcher? _watcher;
    private readonly Timer _debounce, _poll;
    private readonly Lock _reloadLock = new();
    private LoadedModel _current;
    private (long Length, DateTime Written) _seen;
    private int _disposed;

    private ModelHost(string name, string path, LoadedModel first, ServeOptions options, TextWriter log)
    {
        Name = name;
        Path = System.IO.Path.GetFullPath(path);
        _current = first;
        _log = log;
        _seen = Stamp(Path);
        Batcher = new MicroBatcher(options.BatchWait, options.MaxBatch, options.Workers);
        _debounce = new Timer(_ => CheckForChange());
        _poll = new Timer(_ => { if (Stamp(Path) != _seen) CheckForChange(); }, null, options.PollInterval, options.PollInterval);
        try
        {
            _watcher = new FileSystemWatcher(System.IO.Path.GetDirectoryName(Path)!, System.IO.Path.GetFileName(Path))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            FileSystemEventHandler changed = (_, _) => _debounce.Change(TimeSpan.FromMilliseconds(100), Timeout.InfiniteTimeSpan);
            _watcher.Changed += changed;
            _watcher.Created += changed;
            _watcher.Renamed += (_, e) => { if (string.Equals(e.FullPath, Path, StringComparison.Ordinal)) changed(this, e); };
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException)
        {
            _watcher = null; // the poll still notices a replaced file
            log.WriteLine($"recur serve: model '{name}': cannot watch {Path} ({e.Message}); polling it instead.");
        }
    }

    public string Name { get; }
    public string Path { get; }
    public MicroBatcher Batcher { get; }

    /// <summary>The version new requests use.</summary>
    public LoadedModel Current => Volatile.Read(ref _current);

    /// <exception cref="InvalidInputException">The file is missing or not a servable model.</exception>
    public static ModelHost Load(string name, string path, ServeOptions options, TextWriter log)
    {
        var (predictor, hash) = LoadChecked(path) ?? throw new InvalidInputException($"--model {name}: {path} changed while it was being read; try again.");
        return new ModelHost(name, path, new LoadedModel(predictor, hash, DateTimeOffset.UtcNow, 1), options, log);
    }

    /// <summary>Loads the file and its hash, or null when it changed during the load (hash before ≠ hash after).</summary>
    private static (Predictor, string)? LoadChecked(string path)
    {
        string before = Hash(path);
        var predictor = Predictor.Load(path);
        return Hash(path) == before ? (predictor, before) : null;
    }

    private static string Hash(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Serialization.ModelFileException(path, $"cannot be read ({e.Message}).");
        }
    }

    private static (long, DateTime) Stamp(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.Exists ? (info.Length, info.LastWriteTimeUtc) : (-1, default);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (-1, default);
        }
    }

    /// <summary>Loads the file again when its content differs from the current version's, and swaps it in.</summary>
    public void CheckForChange()
    {
        if (Volatile.Read(ref _disposed) != 0) return;
        lock (_reloadLock)
        {
            var stamp = Stamp(Path);
            if (stamp.Item1 < 0) return; // removed or being replaced: keep serving the current version
            var current = Current;
            try
            {
                if (Hash(Path) == current.Sha256)
                {
                    _seen = stamp;
                    return;
                }
                var loaded = LoadChecked(Path);
                if (loaded is null)
                {
                    _debounce.Change(TimeSpan.FromMilliseconds(200), Timeout.InfiniteTimeSpan);
                    return;
                }
                var (predictor, hash) = loaded.Value;
                Volatile.Write(ref _current, new LoadedModel(predictor, hash, DateTimeOffset.UtcNow, current.Version + 1));
                _seen = stamp;
                _log.WriteLine($"recur serve: model '{Name}': reloaded {Path} (version {current.Version + 1}, sha256 {hash[..12]}).");
            }
            catch (InvalidInputException e)
            {
                // Often a file still being written: the next change event or poll tries again.
                _seen = stamp;
                _log.WriteLine($"recur serve: model '{Name}': kept version {current.Version}; the new file does not load: {e.Message}");
            }
            catch (Exception e)
            {
                _seen = stamp;
                _log.WriteLine($"recur serve: model '{Name}': kept version {current.Version}; reloading failed: {e}");
            }
        }
    }

    /// <summary>GET /model: name, version, hash, batching counts and the predictor's description.</summary>
    public JsonObject Describe()
    {
        var current = Current;
        var o = new JsonObject
        {
            ["name"] = Name,
            ["version"] = current.Version,
            ["sha256"] = current.Sha256,
            ["loaded_at"] = current.LoadedAt.ToString("O"),
        };
        foreach (var (key, value) in current.Predictor.Describe()) o[key] = value?.DeepClone();
        var (batches, requests) = Batcher.Counts;
        o["batching"] = new JsonObject { ["batches"] = batches, ["requests"] = requests };
        return o;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _watcher?.Dispose();
        await _poll.DisposeAsync();
        await _debounce.DisposeAsync();
        await Batcher.DisposeAsync();
    }
}
