using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Recur.Tensors;

namespace Recur.Serialization;

/// <summary>
/// The tensors and string metadata of one safetensors file. <see cref="Tensors"/> keeps the order in which the
/// header lists them (for files Recur wrote, the order they were given to <see cref="SafeTensors.Serialize"/>).
/// </summary>
public sealed record SafeTensorsContent(
    IReadOnlyList<KeyValuePair<string, Tensor>> Tensors,
    IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>The file (or in-memory source name) the content came from; named in errors.</summary>
    public string SourceName { get; init; } = "<memory>";

    /// <summary>The tensor called <paramref name="name"/>.</summary>
    /// <exception cref="ModelFileException">The file has no such tensor.</exception>
    public Tensor Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var (key, tensor) in Tensors)
            if (string.Equals(key, name, StringComparison.Ordinal))
                return tensor;
        throw new ModelFileException(SourceName, $"has no tensor \"{name}\"");
    }
}

/// <summary>
/// Reads and writes the safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// u64 header length N, N bytes of UTF-8 JSON header (padded with spaces to a multiple of 8), then the raw
/// little-endian tensor bytes. Each header entry is
/// <c>"name": {"dtype": "F32", "shape": [d0, d1, …], "data_offsets": [begin, end]}</c> with offsets relative to
/// the start of the data section; <c>"__metadata__"</c> maps strings to strings. Recur stores F32 only.
/// Nothing in the file is executed; every field is validated before use.
/// </summary>
public static class SafeTensors
{
    /// <summary>The reserved header key holding string → string metadata.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>Headers larger than this are treated as corruption rather than allocated (the reference
    /// implementation uses the same 100 MB bound).</summary>
    public const int MaxHeaderBytes = 100_000_000;

    // Strict: invalid UTF-16 (lone surrogates) in names or metadata must fail, not silently become U+FFFD.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The safetensors bytes of <paramref name="tensors"/> (F32, data in the given order) and
    /// <paramref name="metadata"/>. Deterministic: the header is compact JSON with <c>__metadata__</c> first (keys
    /// sorted ordinally), then the tensors in the given order.
    /// </summary>
    /// <exception cref="ArgumentException">Duplicate or reserved tensor names, null tensors or metadata values,
    /// or text that is not valid UTF-16.</exception>
    public static byte[] Serialize(IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(metadata);

        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in list)
        {
            if (name is null) throw new ArgumentException("Tensor names must not be null.", nameof(tensors));
            if (tensor is null) throw new ArgumentException($"Tensor \"{name}\" is null.", nameof(tensors));
            if (name == MetadataKey)
                throw new ArgumentException($"\"{MetadataKey}\" is reserved for metadata and cannot name a tensor.", nameof(tensors));
            if (!names.Add(name)) throw new ArgumentException($"Duplicate tensor name \"{name}\".", nameof(tensors));
        }

        var json = new StringBuilder();
        json.Append('{');
        AppendJsonString(json, MetadataKey);
        json.Append(":{");
        bool first = true;
        foreach (string key in metadata.Keys.Order(StringComparer.Ordinal))
        {
            string? value = metadata[key];
            if (value is null) throw new ArgumentException($"Metadata \"{key}\" has a null value.", nameof(metadata));
            if (!first) json.Append(',');
            first = false;
            AppendJsonString(json, key);
            json.Append(':');
            AppendJsonString(json, value);
        }
        json.Append('}');

        long offset = 0;
        foreach (var (name, tensor) in list)
        {
            long size = 4L * tensor.Length;
            json.Append(',');
            AppendJsonString(json, name);
            json.Append(":{\"dtype\":\"F32\",\"shape\":[");
            json.AppendJoin(',', tensor.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));
            json.Append("],\"data_offsets\":[")
                .Append(offset.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append((offset + size).ToString(CultureInfo.InvariantCulture)).Append("]}");
            offset += size;
        }
        json.Append('}');

        byte[] header;
        try
        {
            header = StrictUtf8.GetBytes(json.ToString());
        }
        catch (EncoderFallbackException ex)
        {
            throw new ArgumentException("Tensor names and metadata must be valid Unicode text.", ex);
        }

        // Padding keeps the data section 8-byte aligned, as the reference implementation does.
        long padded = (header.Length + 7L) & ~7L;
        long total = 8 + padded + offset;
        if (total > Array.MaxLength)
            throw new ArgumentException($"The tensors need {total} bytes, more than one buffer can hold.", nameof(tensors));

        var bytes = new byte[total];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        header.CopyTo(bytes.AsSpan(8));
        bytes.AsSpan(8 + header.Length, (int)padded - header.Length).Fill((byte)' ');

        int position = 8 + (int)padded;
        foreach (var (_, tensor) in list)
        {
            WriteFloats(tensor.Data, bytes.AsSpan(position, 4 * tensor.Length));
            position += 4 * tensor.Length;
        }
        return bytes;
    }

    /// <summary>
    /// Writes <see cref="Serialize"/>'s bytes to <paramref name="path"/> atomically: into a temporary file in the
    /// same directory, then renamed over <paramref name="path"/>. A failure leaves any previous file untouched and
    /// no temporary file behind.
    /// </summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] bytes = Serialize(tensors, metadata); // argument errors surface before the disk is touched

        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"\"{path}\" is not a file path.", nameof(path));
        // Same directory, so the final move is a rename on one file system rather than a copy.
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Reads and validates the safetensors file at <paramref name="path"/>.</summary>
    /// <exception cref="ModelFileException">The file is missing, unreadable or not a valid F32 safetensors file.</exception>
    public static SafeTensorsContent Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) throw new ModelFileException(path, "is a directory, not a safetensors file");
        if (!File.Exists(path)) throw new ModelFileException(path, "does not exist");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new ModelFileException(path, $"cannot be read: {ex.Message}", ex);
        }
        return Deserialize(bytes, path);
    }

    /// <summary>
    /// Parses and validates safetensors <paramref name="bytes"/>; <paramref name="sourceName"/> names them in
    /// errors. Header entries may come in any order; the data section must be covered exactly, without gaps or
    /// overlaps, by the tensors' offsets.
    /// </summary>
    /// <exception cref="ModelFileException">The bytes are not a valid F32 safetensors file.</exception>
    public static SafeTensorsContent Deserialize(ReadOnlySpan<byte> bytes, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(sourceName);
        try
        {
            return DeserializeCore(bytes, sourceName);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException
                                       or OverflowException or ArgumentException or IndexOutOfRangeException)
        {
            // Validation below should leave nothing for this to catch; it keeps a missed case a user error.
            throw new ModelFileException(sourceName, $"is corrupt: {ex.Message}", ex);
        }
    }

    private static SafeTensorsContent DeserializeCore(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.Length < 8)
            throw new ModelFileException(source,
                $"is too short ({bytes.Length} bytes) to be a safetensors file, which starts with an 8-byte header length");

        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > MaxHeaderBytes)
            throw new ModelFileException(source,
                $"declares a {headerLength}-byte header, over the {MaxHeaderBytes}-byte limit; it is not a safetensors file or is corrupt");
        if (headerLength > (ulong)(bytes.Length - 8))
            throw new ModelFileException(source,
                $"is truncated: its header length is {headerLength} bytes but only {bytes.Length - 8} bytes follow it");

        int dataStart = 8 + (int)headerLength;
        long dataLength = bytes.Length - dataStart;
        ReadOnlySpan<byte> header = bytes.Slice(8, (int)headerLength);
        if (!Utf8.IsValid(header))
            throw new ModelFileException(source, "has a header that is not valid UTF-8");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header.ToArray());
        }
        catch (JsonException ex)
        {
            throw new ModelFileException(source, $"has a header that is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelFileException(source, $"has a header that is a JSON {Kind(root)}, not an object");

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<Entry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw new ModelFileException(source, $"lists \"{property.Name}\" twice in its header");
                if (property.Name == MetadataKey)
                    ReadMetadata(property.Value, metadata, source);
                else
                    entries.Add(ReadEntry(property.Name, property.Value, dataLength, source));
            }

            CheckCoverage(entries, dataLength, source);

            var tensors = new List<KeyValuePair<string, Tensor>>(entries.Count);
            foreach (Entry entry in entries)
            {
                var data = new float[entry.Count];
                ReadFloats(bytes.Slice(dataStart + (int)entry.Begin, (int)(entry.End - entry.Begin)), data);
                tensors.Add(new(entry.Name, new Tensor(data, entry.Shape)));
            }
            return new SafeTensorsContent(tensors, metadata) { SourceName = source };
        }
    }

    /// <summary>One validated header entry: offsets are within the data section and match the shape.</summary>
    private sealed record Entry(string Name, int[] Shape, int Count, long Begin, long End);

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        // The reference implementation accepts a null __metadata__ as "none".
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw new ModelFileException(source, $"has \"{MetadataKey}\" that is a JSON {Kind(value)}, not an object of strings");
        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new ModelFileException(source,
                    $"has metadata \"{item.Name}\" whose value is a JSON {Kind(item.Value)}; metadata values must be strings");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw new ModelFileException(source, $"lists metadata \"{item.Name}\" twice");
        }
    }

    private static Entry ReadEntry(string name, JsonElement value, long dataLength, string source)
    {
        string Where() => $"has tensor \"{name}\"";
        if (value.ValueKind != JsonValueKind.Object)
            throw new ModelFileException(source, $"{Where()} described by a JSON {Kind(value)}, not an object");

        JsonElement Field(string field)
            => value.TryGetProperty(field, out JsonElement element)
                ? element
                : throw new ModelFileException(source, $"{Where()} without \"{field}\"");

        JsonElement dtype = Field("dtype");
        if (dtype.ValueKind != JsonValueKind.String)
            throw new ModelFileException(source, $"{Where()} whose dtype is a JSON {Kind(dtype)}, not a string");
        string dtypeText = dtype.GetString()!;
        if (dtypeText != "F32")
            throw new ModelFileException(source, $"{Where()} with dtype {dtypeText}; Recur reads F32 tensors only");

        JsonElement shapeElement = Field("shape");
        if (shapeElement.ValueKind != JsonValueKind.Array)
            throw new ModelFileException(source, $"{Where()} whose shape is a JSON {Kind(shapeElement)}, not an array");
        var shape = new int[shapeElement.GetArrayLength()];
        long count = 1;
        int axis = 0;
        foreach (JsonElement dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt32(out int size) || size < 0)
                throw new ModelFileException(source, $"{Where()} whose shape {shapeElement.GetRawText()} is not a list of non-negative integers");
            shape[axis++] = size;
            count *= size;
            if (count > Array.MaxLength) // also stops long overflow: each factor is below 2^31
                throw new ModelFileException(source, $"{Where()} whose shape {shapeElement.GetRawText()} has too many elements");
        }

        JsonElement offsets = Field("data_offsets");
        if (offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2
            || !TryOffset(offsets[0], out long begin) || !TryOffset(offsets[1], out long end))
            throw new ModelFileException(source, $"{Where()} whose data_offsets {Raw(offsets)} are not two non-negative integers");
        if (begin > end)
            throw new ModelFileException(source, $"{Where()} whose data_offsets [{begin}, {end}] end before they begin");
        if (end > dataLength)
            throw new ModelFileException(source,
                $"{Where()} whose data_offsets [{begin}, {end}] run past the end of the {dataLength}-byte data section; the file is truncated or corrupt");
        if (end - begin != 4 * count)
            throw new ModelFileException(source,
                $"{Where()} with shape [{string.Join(", ", shape)}] ({count} F32 values, {4 * count} bytes) but data_offsets [{begin}, {end}] spanning {end - begin} bytes");

        return new Entry(name, shape, (int)count, begin, end);
    }

    /// <summary>The offsets, sorted, must tile [0, dataLength) exactly: no gaps, overlaps or trailing bytes.</summary>
    private static void CheckCoverage(List<Entry> entries, long dataLength, string source)
    {
        var sorted = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList(); // stable, so deterministic
        long expected = 0;
        string? previous = null;
        foreach (Entry entry in sorted)
        {
            if (entry.Begin < expected)
                throw new ModelFileException(source,
                    $"has tensors \"{previous}\" and \"{entry.Name}\" whose data overlap (offset {entry.Begin} < {expected})");
            if (entry.Begin > expected)
                throw new ModelFileException(source,
                    $"leaves bytes {expected}..{entry.Begin} of the data section unused before tensor \"{entry.Name}\"; data_offsets must cover it exactly");
            expected = entry.End;
            previous = entry.Name;
        }
        if (expected != dataLength)
            throw new ModelFileException(source,
                $"has {dataLength - expected} bytes after the last tensor's data; data_offsets must cover the {dataLength}-byte data section exactly");
    }

    private static bool TryOffset(JsonElement element, out long value)
    {
        value = 0;
        return element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out value) && value >= 0;
    }

    private static string Raw(JsonElement element)
    {
        string text = element.GetRawText();
        return text.Length <= 80 ? text : text[..77] + "...";
    }

    private static string Kind(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => "value",
    };

    /// <summary>JSON string literal; non-ASCII is written as raw UTF-8 (valid JSON, and what Python writes).</summary>
    private static void AppendJsonString(StringBuilder json, string text)
    {
        json.Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                case '\b': json.Append("\\b"); break;
                case '\f': json.Append("\\f"); break;
                default:
                    if (c < 0x20) json.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else json.Append(c);
                    break;
            }
        }
        json.Append('"');
    }

    // Bit-exact copies (NaN payloads, −0.0) in little-endian order on any host.
    private static void WriteFloats(ReadOnlySpan<float> source, Span<byte> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(source).CopyTo(destination);
            return;
        }
        for (int i = 0; i < source.Length; i++)
            BinaryPrimitives.WriteInt32LittleEndian(destination[(4 * i)..], BitConverter.SingleToInt32Bits(source[i]));
    }

    private static void ReadFloats(ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            source.CopyTo(MemoryMarshal.AsBytes(destination));
            return;
        }
        for (int i = 0; i < destination.Length; i++)
            destination[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadInt32LittleEndian(source[(4 * i)..]));
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: the original error matters more than a leftover temporary file.
        }
    }
}
