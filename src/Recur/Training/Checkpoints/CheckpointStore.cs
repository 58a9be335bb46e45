using System.Security.Cryptography;
using System.Text;
using Recur.Serialization;
using Recur.Tensors;

namespace Recur.Training.Checkpoints;

/// <summary>The content of one checkpoint: named float tensors and named string values.</summary>
public sealed class CheckpointData
{
    public Dictionary<string, float[]> Tensors { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Values { get; } = new(StringComparer.Ordinal);

    public string Value(string key) => Values.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"checkpoint value '{key}' is missing");
    public float[] Tensor(string key) => Tensors.TryGetValue(key, out var t) ? t : throw new InvalidDataException($"checkpoint tensor '{key}' is missing");
}

/// <summary>
/// A directory of checkpoints in safetensors files, each with a SHA-256 checksum over its tensors and values:
/// <c>last.ckpt</c>, the one before it (<c>previous.ckpt</c>), and <c>completed.ckpt</c> once training has ended.
/// Writes are atomic (temporary file, then rename); a torn or corrupt file is detected on load and the previous
/// checkpoint is used instead.
/// </summary>
public sealed class CheckpointStore(string directory)
{
    private const string ChecksumKey = "recur.checksum";
    public const string Last = "last.ckpt", Previous = "previous.ckpt", Completed = "completed.ckpt";

    public string Directory { get; } = directory;

    /// <summary>Writes <see cref="Last"/>, keeping the checkpoint it replaces as <see cref="Previous"/>.</summary>
    public void Save(CheckpointData data)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string last = Path.Combine(Directory, Last);
        if (File.Exists(last)) File.Move(last, Path.Combine(Directory, Previous), overwrite: true);
        Write(last, data);
    }

    /// <summary>Writes <see cref="Completed"/>: the final state of a finished training.</summary>
    public void SaveCompleted(CheckpointData data)
    {
        System.IO.Directory.CreateDirectory(Directory);
        Write(Path.Combine(Directory, Completed), data);
    }

    /// <summary>The newest intact checkpoint (completed, last, then previous), or null if there is none.</summary>
    public CheckpointData? LoadLatest(TextWriter log)
    {
        foreach (var name in new[] { Completed, Last, Previous })
        {
            string path = Path.Combine(Directory, name);
            if (!File.Exists(path)) continue;
            try
            {
                return Read(path);
            }
            catch (Exception e) when (e is InvalidInputException or InvalidDataException or IOException)
            {
                log.WriteLine($"checkpoint {path} is unusable ({e.Message}); trying the one before it");
            }
        }
        return null;
    }

    /// <summary>Removes every checkpoint, for a fresh run in a directory that held an older one.</summary>
    public void Clear()
    {
        foreach (var name in new[] { Completed, Last, Previous })
            File.Delete(Path.Combine(Directory, name));
    }

    private static void Write(string path, CheckpointData data)
    {
        var metadata = new Dictionary<string, string>(data.Values, StringComparer.Ordinal) { [ChecksumKey] = Checksum(data) };
        SafeTensors.Write(path, data.Tensors.Select(kv => KeyValuePair.Create(kv.Key, new Tensor(kv.Value, kv.Value.Length))), metadata);
    }

    private static CheckpointData Read(string path)
    {
        var content = SafeTensors.Read(path);
        var data = new CheckpointData();
        foreach (var (name, tensor) in content.Tensors) data.Tensors[name] = tensor.Data;
        foreach (var (key, value) in content.Metadata)
            if (key != ChecksumKey) data.Values[key] = value;
        if (!content.Metadata.TryGetValue(ChecksumKey, out var stored) || stored != Checksum(data))
            throw new InvalidDataException("its checksum does not match its content");
        return data;
    }

    /// <summary>SHA-256 over every tensor (name and bytes) and value (key and text), in ordinal order.</summary>
    private static string Checksum(CheckpointData data)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, values) in data.Tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(name + "\0"));
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }
        foreach (var (key, value) in data.Values.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            hash.AppendData(Encoding.UTF8.GetBytes(key + "\0" + value + "\0"));
        return Convert.ToHexString(hash.GetHashAndReset());
    }
}
