using System.Text.Json;

namespace Recur.Tests.Fixtures;

/// <summary>
/// Loader for the PyTorch parity fixture written by <c>make_pytorch_parity.py</c>
/// (see that script for the exact layout and naming of the tensors).
/// </summary>
public sealed class PyTorchFixture
{
    private PyTorchFixture(string path, string generator, string torchVersion, IReadOnlyList<FixtureCase> cases)
    {
        Path = path;
        Generator = generator;
        TorchVersion = torchVersion;
        Cases = cases;
    }

    /// <summary>Full path of the file that was loaded.</summary>
    public string Path { get; }

    public string Generator { get; }

    public string TorchVersion { get; }

    public IReadOnlyList<FixtureCase> Cases { get; }

    /// <summary>Finds a case by name; throws listing the available names when absent.</summary>
    public FixtureCase Case(string name)
    {
        foreach (var c in Cases)
        {
            if (c.Name == name)
            {
                return c;
            }
        }

        throw new KeyNotFoundException(
            $"Fixture case '{name}' not found in '{Path}'. Available cases: {string.Join(", ", Cases.Select(c => c.Name))}.");
    }

    /// <summary>
    /// Loads <paramref name="fileName"/> from <c>AppContext.BaseDirectory/Fixtures/</c>.
    /// </summary>
    public static PyTorchFixture Load(string fileName)
    {
        ArgumentException.ThrowIfNullOrEmpty(fileName);
        var path = System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures", fileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"Fixture file '{fileName}' not found at '{path}'. Is it under tests/Recur.Tests/Fixtures/ and copied to the output directory?",
                path);
        }

        using var stream = File.OpenRead(path);
        using var doc = JsonDocument.Parse(stream);
        var root = doc.RootElement;

        var generator = root.TryGetProperty("generator", out var g) ? g.GetString() ?? string.Empty : string.Empty;
        var torchVersion = root.TryGetProperty("torch_version", out var v) ? v.GetString() ?? string.Empty : string.Empty;

        var cases = new List<FixtureCase>();
        foreach (var c in Required(root, "cases", path).EnumerateArray())
        {
            cases.Add(FixtureCase.Parse(c, path));
        }

        return new PyTorchFixture(path, generator, torchVersion, cases);
    }

    internal static JsonElement Required(JsonElement element, string property, string context)
    {
        if (!element.TryGetProperty(property, out var value))
        {
            throw new InvalidDataException($"Fixture '{context}': missing property '{property}'.");
        }

        return value;
    }
}

/// <summary>One module configuration with its inputs, parameters, outputs and gradients.</summary>
public sealed class FixtureCase
{
    private readonly Dictionary<string, FixtureTensor> _tensors;
    private readonly List<string> _tensorNames;

    private FixtureCase(
        string name, string cell, int inputSize, int hiddenSize, int numLayers, int seqLen, int batch, double loss,
        int[] lengths, Dictionary<string, FixtureTensor> tensors, List<string> tensorNames)
    {
        Lengths = lengths;
        Name = name;
        Cell = cell;
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        NumLayers = numLayers;
        SeqLen = seqLen;
        Batch = batch;
        Loss = loss;
        _tensors = tensors;
        _tensorNames = tensorNames;
    }

    public string Name { get; }

    /// <summary>"lstm", "gru" or "rnn" (tanh).</summary>
    public string Cell { get; }

    public int InputSize { get; }

    public int HiddenSize { get; }

    public int NumLayers { get; }

    public int SeqLen { get; }

    public int Batch { get; }

    /// <summary>
    /// Real steps of each right-padded sequence [B] for cases run through <c>pack_padded_sequence</c>; empty when
    /// every sequence has all <see cref="SeqLen"/> steps.
    /// </summary>
    public int[] Lengths { get; }

    /// <summary>L = sum(output·G_out) + sum(h_n·G_h) (+ sum(c_n·G_c) for LSTM), in float64.</summary>
    public double Loss { get; }

    /// <summary>Tensor names in file order.</summary>
    public IReadOnlyList<string> TensorNames => _tensorNames;

    public bool Has(string name) => _tensors.ContainsKey(name);

    public FixtureTensor Tensor(string name)
    {
        if (_tensors.TryGetValue(name, out var t))
        {
            return t;
        }

        throw new KeyNotFoundException(
            $"Tensor '{name}' not found in fixture case '{Name}'. Available tensors: {string.Join(", ", _tensorNames)}.");
    }

    public override string ToString() => Name;

    internal static FixtureCase Parse(JsonElement c, string path)
    {
        var name = PyTorchFixture.Required(c, "name", path).GetString()
            ?? throw new InvalidDataException($"Fixture '{path}': case with null name.");
        var context = $"{path}#{name}";
        var cell = PyTorchFixture.Required(c, "cell", context).GetString()
            ?? throw new InvalidDataException($"Fixture '{context}': null cell.");

        var tensors = new Dictionary<string, FixtureTensor>(StringComparer.Ordinal);
        var names = new List<string>();
        foreach (var prop in PyTorchFixture.Required(c, "tensors", context).EnumerateObject())
        {
            var tensorContext = $"{context}/{prop.Name}";
            var shapeElement = PyTorchFixture.Required(prop.Value, "shape", tensorContext);
            var shape = new int[shapeElement.GetArrayLength()];
            var i = 0;
            foreach (var s in shapeElement.EnumerateArray())
            {
                shape[i++] = s.GetInt32();
            }

            var dataElement = PyTorchFixture.Required(prop.Value, "data", tensorContext);
            var data = new double[dataElement.GetArrayLength()];
            i = 0;
            foreach (var d in dataElement.EnumerateArray())
            {
                data[i++] = d.GetDouble();
            }

            long expected = 1;
            foreach (var s in shape)
            {
                expected *= s;
            }

            if (expected != data.Length)
            {
                throw new InvalidDataException(
                    $"Fixture '{tensorContext}': shape [{string.Join(", ", shape)}] implies {expected} values but data has {data.Length}.");
            }

            if (!tensors.TryAdd(prop.Name, new FixtureTensor(shape, data)))
            {
                throw new InvalidDataException($"Fixture '{tensorContext}': duplicate tensor name.");
            }

            names.Add(prop.Name);
        }

        return new FixtureCase(
            name,
            cell,
            PyTorchFixture.Required(c, "input_size", context).GetInt32(),
            PyTorchFixture.Required(c, "hidden_size", context).GetInt32(),
            PyTorchFixture.Required(c, "num_layers", context).GetInt32(),
            PyTorchFixture.Required(c, "seq_len", context).GetInt32(),
            PyTorchFixture.Required(c, "batch", context).GetInt32(),
            PyTorchFixture.Required(c, "loss", context).GetDouble(),
            c.TryGetProperty("lengths", out var lengths) ? lengths.EnumerateArray().Select(e => e.GetInt32()).ToArray() : [],
            tensors,
            names);
    }
}

/// <summary>A dense tensor: shape plus row-major float64 data.</summary>
public sealed class FixtureTensor
{
    public FixtureTensor(int[] shape, double[] data)
    {
        Shape = shape;
        Data = data;
    }

    public int[] Shape { get; }

    /// <summary>Flattened row-major values, full float64 precision.</summary>
    public double[] Data { get; }

    public int Length => Data.Length;

    /// <summary>The values rounded to float32 (exact for the sampled inputs/weights).</summary>
    public float[] ToFloat()
    {
        var result = new float[Data.Length];
        for (var i = 0; i < Data.Length; i++)
        {
            result[i] = (float)Data[i];
        }

        return result;
    }

    public override string ToString() => $"[{string.Join(", ", Shape)}]";
}
