using System.Buffers.Binary;
using System.Text;
using Recur.Serialization;
using Recur.Tensors;
using Xunit;

namespace Recur.Tests.Serialization;

/// <summary>Round trips, exact bytes, foreign layouts, corruption and atomic writes of safetensors files.</summary>
public sealed class SafeTensorsTests : IDisposable
{
    private static readonly IReadOnlyDictionary<string, string> NoMetadata = new Dictionary<string, string>();

    private readonly string _directory =
        Path.Combine(Path.GetTempPath(), "recur-safetensors-" + Guid.NewGuid().ToString("N"));

    public SafeTensorsTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string FilePath(string name = "model.safetensors") => Path.Combine(_directory, name);

    private static KeyValuePair<string, Tensor> Named(string name, Tensor tensor) => new(name, tensor);

    /// <summary>8-byte length + header padded with spaces to a multiple of 8 + data, like the reference writer.</summary>
    private static byte[] BuildFile(string headerJson, byte[] data)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        int padded = (header.Length + 7) / 8 * 8;
        var bytes = new byte[8 + padded + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        header.CopyTo(bytes, 8);
        bytes.AsSpan(8 + header.Length, padded - header.Length).Fill((byte)' ');
        data.CopyTo(bytes, 8 + padded);
        return bytes;
    }

    private static byte[] FloatBytes(params float[] values)
    {
        var bytes = new byte[4 * values.Length];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        return bytes;
    }

    private static void AssertBitsEqual(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        Assert.Equal(
            expected.Data.Select(BitConverter.SingleToInt32Bits).ToArray(),
            actual.Data.Select(BitConverter.SingleToInt32Bits).ToArray());
    }

    private static List<KeyValuePair<string, Tensor>> SampleTensors()
    {
        var random = new Random(7);
        float[] cube = Enumerable.Range(0, 2 * 3 * 4).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        float payloadNaN = BitConverter.Int32BitsToSingle(0x7FC0_1234);
        return
        [
            Named("head.bias", new Tensor([42.5f], 1)),
            Named("encoder.weight_ih_l0", new Tensor([1f, -0f, payloadNaN, float.PositiveInfinity, float.Epsilon, -3.25f], 2, 3)),
            Named("cube", new Tensor(cube, 2, 3, 4)),
            Named("empty", new Tensor(0, 5)),
        ];
    }

    public static TheoryData<Dictionary<string, string>> Metadatas => new()
    {
        new Dictionary<string, string>(),
        new Dictionary<string, string>
        {
            ["recur.format"] = "1",
            ["recur.config"] = "{\"hidden\": 32, \"note\": \"quote \\\" backslash \\\\\"}",
            ["ünïcødé ✓"] = "日本語 🚀 tab\t newline\n nul\0",
        },
    };

    [Theory]
    [MemberData(nameof(Metadatas))]
    public void Round_trip_keeps_names_order_shapes_bits_and_metadata(Dictionary<string, string> metadata)
    {
        var tensors = SampleTensors();
        string path = FilePath();

        SafeTensors.Write(path, tensors, metadata);
        SafeTensorsContent content = SafeTensors.Read(path);

        Assert.Equal(tensors.Select(t => t.Key), content.Tensors.Select(t => t.Key));
        for (int i = 0; i < tensors.Count; i++)
            AssertBitsEqual(tensors[i].Value, content.Tensors[i].Value);
        Assert.Equal(metadata.OrderBy(p => p.Key, StringComparer.Ordinal), content.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal));
        AssertBitsEqual(tensors[1].Value, content.Get("encoder.weight_ih_l0"));
        Assert.Equal(path, content.SourceName);
    }

    [Fact]
    public void Serialize_is_deterministic_whatever_the_metadata_insertion_order()
    {
        var a = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1", ["B"] = "3" };
        var b = new Dictionary<string, string> { ["B"] = "3", ["a"] = "1", ["b"] = "2" };

        Assert.Equal(SafeTensors.Serialize(SampleTensors(), a), SafeTensors.Serialize(SampleTensors(), b));
    }

    [Fact]
    public void Serialize_matches_hand_built_golden_bytes()
    {
        var tensors = new[]
        {
            Named("w", new Tensor([1f, -2f, 0.5f, 0f], 2, 2)),
            Named("b", new Tensor([-0f], 1)),
        };
        var metadata = new Dictionary<string, string> { ["z"] = "last", ["k"] = "é" };

        // Metadata first with sorted keys, then tensors in the given order; compact JSON, raw UTF-8.
        const string json =
            "{\"__metadata__\":{\"k\":\"é\",\"z\":\"last\"}," +
            "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}," +
            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}";
        byte[] headerBytes = Encoding.UTF8.GetBytes(json);
        Assert.Equal(json.Length + 1, headerBytes.Length); // "é" is two UTF-8 bytes
        int n = (headerBytes.Length + 7) / 8 * 8;

        var expected = new List<byte>();
        expected.AddRange(BitConverter.IsLittleEndian ? BitConverter.GetBytes((ulong)n) : BitConverter.GetBytes((ulong)n).Reverse());
        expected.AddRange(headerBytes);
        expected.AddRange(Enumerable.Repeat((byte)' ', n - headerBytes.Length));
        expected.AddRange(new byte[]
        {
            0x00, 0x00, 0x80, 0x3F, // 1
            0x00, 0x00, 0x00, 0xC0, // -2
            0x00, 0x00, 0x00, 0x3F, // 0.5
            0x00, 0x00, 0x00, 0x00, // 0
            0x00, 0x00, 0x00, 0x80, // -0
        });

        byte[] actual = SafeTensors.Serialize(tensors, metadata);

        Assert.Equal(expected.ToArray(), actual);
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(actual) % 8);
    }

    [Fact]
    public void Reads_header_listing_tensors_out_of_data_order()
    {
        // As Python may write it: "b" listed first but stored second; no metadata; scalar shape [].
        const string json =
            "{\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]}," +
            "\"__metadata__\":{\"format\":\"pt\"}," +
            "\"a\":{\"data_offsets\":[0,8],\"shape\":[2],\"dtype\":\"F32\"}}";
        byte[] bytes = BuildFile(json, FloatBytes(1f, 2f, 3f));
        string path = FilePath();
        File.WriteAllBytes(path, bytes);

        SafeTensorsContent content = SafeTensors.Read(path);

        Assert.Equal(["b", "a"], content.Tensors.Select(t => t.Key));
        AssertBitsEqual(new Tensor([1f, 2f], 2), content.Get("a"));
        AssertBitsEqual(new Tensor([3f]), content.Get("b"));
        Assert.Equal("pt", content.Metadata["format"]);
    }

    [Fact]
    public void Reads_file_without_metadata_or_tensors()
    {
        SafeTensorsContent content = SafeTensors.Deserialize(BuildFile("{}", []), "mem");

        Assert.Empty(content.Tensors);
        Assert.Empty(content.Metadata);
    }

    [Fact]
    public void Get_of_missing_tensor_names_tensor_and_file()
    {
        string path = FilePath();
        SafeTensors.Write(path, SampleTensors(), NoMetadata);

        var ex = Assert.Throws<ModelFileException>(() => SafeTensors.Read(path).Get("decoder.weight"));

        Assert.Contains(path, ex.Message);
        Assert.Contains("decoder.weight", ex.Message);
    }

    [Fact]
    public void Missing_file_is_reported()
    {
        string path = FilePath("nope.safetensors");

        var ex = Assert.Throws<ModelFileException>(() => SafeTensors.Read(path));

        Assert.Equal($"model file {path} does not exist", ex.Message);
        Assert.IsAssignableFrom<InvalidInputException>(ex);
    }

    [Fact]
    public void Truncated_files_are_reported_at_every_length()
    {
        byte[] valid = SafeTensors.Serialize(SampleTensors(), new Dictionary<string, string> { ["k"] = "v" });
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        int[] lengths = [0, 1, 7, 8, 9, 20, headerEnd - 1, headerEnd, headerEnd + 1, headerEnd + 4, valid.Length - 1];

        foreach (int length in lengths)
        {
            string path = FilePath($"cut{length}.safetensors");
            File.WriteAllBytes(path, valid[..length]);

            var ex = Assert.Throws<ModelFileException>(() => SafeTensors.Read(path));

            Assert.Contains(path, ex.Message);
            if (length < 8) Assert.Contains("too short", ex.Message);
            else if (length < headerEnd) Assert.Contains("truncated", ex.Message);
            else Assert.Contains("data section", ex.Message);
        }
    }

    [Fact]
    public void Other_dtype_is_reported_with_the_dtype_found()
    {
        byte[] bytes = SafeTensors.Serialize(SampleTensors(), NoMetadata);
        ReplaceFirst(bytes, "\"F32\"", "\"F16\"");
        string path = FilePath();
        File.WriteAllBytes(path, bytes);

        var ex = Assert.Throws<ModelFileException>(() => SafeTensors.Read(path));

        Assert.Contains(path, ex.Message);
        Assert.Contains("F16", ex.Message);
        Assert.Contains("F32 tensors only", ex.Message);
        Assert.Contains("head.bias", ex.Message);
    }

    [Theory]
    [InlineData(1UL << 40)]
    [InlineData(ulong.MaxValue)]
    [InlineData(100_000_001UL)]
    public void Absurd_header_length_is_reported(ulong length)
    {
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);

        var ex = Assert.Throws<ModelFileException>(() => SafeTensors.Deserialize(bytes, "huge.safetensors"));

        Assert.Contains("huge.safetensors", ex.Message);
        Assert.Contains("limit", ex.Message);
    }

    [Fact]
    public void Header_length_past_the_end_of_file_is_reported()
    {
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);

        var ex = Assert.Throws<ModelFileException>(() => SafeTensors.Deserialize(bytes, "short.safetensors"));

        Assert.Contains("short.safetensors", ex.Message);
        Assert.Contains("truncated", ex.Message);
    }

    public static TheoryData<string, string> BadHeaders => new()
    {
        { "this is not json", "not valid JSON" },
        { "{\"a\":", "not valid JSON" },
        { "[1, 2]", "JSON array, not an object" },
        { "\"text\"", "JSON string, not an object" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", "without \"data_offsets\"" },
        { "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "without \"dtype\"" },
        { "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "without \"shape\"" },
        { "{\"a\":[1]}", "not an object" },
        { "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", "dtype BF16; Recur reads F32 tensors only" },
        { "{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", "dtype is a JSON number" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "spanning 4 bytes" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "non-negative integers" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "non-negative integers" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", "not an array" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[65536,65536],\"data_offsets\":[0,4]}}", "too many elements" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", "not two non-negative integers" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", "not two non-negative integers" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", "end before they begin" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", "run past the end" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "bytes after the last tensor" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "unused before tensor \"a\"" },
        {
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
            "overlap"
        },
        {
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            "twice"
        },
        { "{\"__metadata__\":{\"k\":1}}", "metadata \"k\" whose value is a JSON number" },
        { "{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", "metadata values must be strings" },
        { "{\"__metadata__\":[\"k\"]}", "not an object of strings" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void Bad_headers_are_reported(string header, string problem)
    {
        string path = FilePath();
        File.WriteAllBytes(path, BuildFile(header, FloatBytes(1f, 2f)));

        var ex = Assert.Throws<ModelFileException>(() => SafeTensors.Read(path));

        Assert.Contains(path, ex.Message);
        Assert.Contains(problem, ex.Message);
    }

    [Fact]
    public void Header_that_is_not_utf8_is_reported()
    {
        byte[] bytes = BuildFile("{\"xx\":{}}", []);
        bytes[10] = 0xFF;
        bytes[11] = 0xFE;

        var ex = Assert.Throws<ModelFileException>(() => SafeTensors.Deserialize(bytes, "bin.safetensors"));

        Assert.Contains("bin.safetensors", ex.Message);
        Assert.Contains("UTF-8", ex.Message);
    }

    [Fact]
    public void Random_garbage_only_ever_throws_ModelFileException()
    {
        var random = new Random(11);
        byte[] valid = SafeTensors.Serialize(SampleTensors(), new Dictionary<string, string> { ["k"] = "v" });
        for (int trial = 0; trial < 500; trial++)
        {
            byte[] bytes = (byte[])valid.Clone();
            int flips = 1 + random.Next(4);
            for (int f = 0; f < flips; f++)
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            try
            {
                SafeTensors.Deserialize(bytes, "fuzz");
            }
            catch (ModelFileException ex)
            {
                Assert.Contains("fuzz", ex.Message);
            }
        }
    }

    [Fact]
    public void Serialize_rejects_duplicate_and_reserved_names()
    {
        var tensor = new Tensor([1f], 1);

        Assert.Throws<ArgumentException>(() => SafeTensors.Serialize([Named("a", tensor), Named("a", tensor)], NoMetadata));
        Assert.Throws<ArgumentException>(() => SafeTensors.Serialize([Named("__metadata__", tensor)], NoMetadata));
    }

    [Fact]
    public void Write_replaces_an_existing_file()
    {
        string path = FilePath();
        SafeTensors.Write(path, [Named("old", new Tensor([1f], 1))], NoMetadata);

        SafeTensors.Write(path, [Named("new", new Tensor([2f, 3f], 2))], NoMetadata);

        SafeTensorsContent content = SafeTensors.Read(path);
        Assert.Equal(["new"], content.Tensors.Select(t => t.Key));
        Assert.Equal([path], Directory.GetFiles(_directory));
    }

    [Fact]
    public void Failed_write_leaves_previous_file_intact_and_no_temporary_files()
    {
        string path = FilePath();
        SafeTensors.Write(path, [Named("old", new Tensor([1f], 1))], NoMetadata);
        byte[] before = File.ReadAllBytes(path);
        var tensor = new Tensor([2f], 1);

        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, [Named("x", tensor), Named("x", tensor)], NoMetadata));

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(_directory));
    }

    [Fact]
    public void Failed_rename_removes_the_temporary_file()
    {
        // The target is a directory, so the final move fails after the temporary file was written.
        string path = FilePath("occupied");
        Directory.CreateDirectory(path);
        string marker = Path.Combine(path, "keep.txt");
        File.WriteAllText(marker, "x");

        Assert.ThrowsAny<IOException>(() => SafeTensors.Write(path, SampleTensors(), NoMetadata));

        Assert.Empty(Directory.GetFiles(_directory));
        Assert.True(File.Exists(marker));
        var ex = Assert.Throws<ModelFileException>(() => SafeTensors.Read(path));
        Assert.Contains("directory", ex.Message);
    }

    private static void ReplaceFirst(byte[] bytes, string from, string to)
    {
        byte[] a = Encoding.UTF8.GetBytes(from), b = Encoding.UTF8.GetBytes(to);
        int index = bytes.AsSpan().IndexOf(a);
        Assert.True(index >= 0);
        b.CopyTo(bytes, index);
    }
}
