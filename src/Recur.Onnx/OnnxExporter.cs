using System.Reflection;
using System.Text.Json;
using Recur.Layers;
using Recur.Models;
using Recur.Serialization;
using Recur.Tensors;

namespace Recur.Onnx;

/// <summary>How a model is exported.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>
    /// Give the graph a <c>lengths</c> input [batch] (int32, each in 1 … sequence) for right-padded batches; without
    /// it every sequence uses all its steps.
    /// </summary>
    public bool Lengths { get; init; } = true;

    /// <summary>Tests only: false writes the weights in PyTorch's gate order, to show that the reordering matters.</summary>
    internal bool ReorderGates { get; init; } = true;
}

/// <summary>
/// Writes a <see cref="ModelFile"/> as an ONNX model (opset <see cref="Opset"/>, IR version <see cref="IrVersion"/>):
/// <code>
/// input [batch, sequence, features] float  — or token ids [batch, sequence] int64 → Gather(embedding.weight)
///   → Transpose to [sequence, batch, ·] (ONNX layout 0)
///   → one LSTM / GRU (linear_before_reset=1) / RNN (Tanh) node per layer, sequence_lens = lengths
///     (bidirectional: direction="bidirectional", Y [sequence, 2, batch, H] → [sequence, batch, 2H];
///      residual: layer l ≥ 1 → Add(its output, its input))
///   → per sequence: the last real step of the last layer (GatherND at lengths − 1; bidirectional: its forward half
///     beside the backward half at step 0) → Gemm(head) → output [batch, O]
///     per step:     Transpose to [batch, sequence, H] → MatMul + Add (head) → output [batch, sequence, O]
/// </code>
/// with dynamic <c>batch</c> and <c>sequence</c> axes, and the model file's metadata (task, config, architecture,
/// data-preparation state <c>recur.data</c>, metrics) as <c>metadata_props</c>. An architecture this exporter does
/// not know is refused with an <see cref="InvalidInputException"/>, never written approximately.
/// </summary>
public static class OnnxExporter
{
    /// <summary>The ONNX operator set: 14 is the newest version of LSTM, GRU and RNN (it added <c>layout</c>).</summary>
    public const int Opset = 14;

    /// <summary>IR version 7, the one released with opset 14 (ONNX 1.9).</summary>
    public const int IrVersion = 7;

    /// <summary>Writes the ONNX file atomically: to a temporary file beside <paramref name="path"/>, then moved over it.</summary>
    public static void Write(ModelFile file, string path, OnnxExportOptions? options = null)
    {
        byte[] bytes = Export(file, options);
        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new InvalidInputException($"--out: '{path}' is not a usable file path ({e.Message}).");
        }
        if (Directory.Exists(full)) throw new InvalidInputException($"--out: '{path}' is a directory; give the ONNX file's path, e.g. {Path.Combine(path, "model.onnx")}.");
        string directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory)) throw new InvalidInputException($"--out: the directory '{directory}' does not exist.");
        if (file.Path.Length > 0 && string.Equals(Path.GetFullPath(file.Path), full, StringComparison.Ordinal))
            throw new InvalidInputException($"--out: '{path}' is the model file itself; choose another path.");
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new InvalidInputException($"--out: cannot write '{path}' ({e.Message}).");
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (File.Exists(path)) File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // nothing more to do: the temporary file is hidden and named as such
        }
    }

    /// <summary>The ONNX model's bytes (a serialized <c>ModelProto</c>).</summary>
    public static byte[] Export(ModelFile file, OnnxExportOptions? options = null)
    {
        options ??= new OnnxExportOptions();
        var spec = file.Model.Spec;
        string source = file.Path.Length > 0 ? file.Path : "the model";
        CheckArchitecture(spec, source);
        var parameters = file.Model.StateDict();
        var layout = ParameterLayout.Expected(spec, directions: spec.Bidirectional ? 2 : 1);
        layout.Check(parameters, source);

        var graph = new GraphBuilder();
        bool tokens = spec.VocabularySize > 0;
        var inputs = new List<OnnxValueInfo>
        {
            tokens
                ? new OnnxValueInfo("input", OnnxDataType.Int64, [OnnxDim.Dynamic("batch"), OnnxDim.Dynamic("sequence")],
                    $"token ids in 0 … {spec.VocabularySize - 1}, right-padded (any id at padded steps)")
                : new OnnxValueInfo("input", OnnxDataType.Float, [OnnxDim.Dynamic("batch"), OnnxDim.Dynamic("sequence"), OnnxDim.Fixed(spec.InputSize)],
                    "numeric features after the preprocessing recorded in recur.data, right-padded"),
        };
        string? lengths = null;
        if (options.Lengths)
        {
            lengths = "lengths";
            inputs.Add(new OnnxValueInfo(lengths, OnnxDataType.Int32, [OnnxDim.Dynamic("batch")], "real steps of each sequence, each in 1 … sequence"));
        }

        // [batch, sequence, ·] → [sequence, batch, ·] (ONNX recurrent layout 0)
        string x;
        if (tokens)
        {
            string ids = graph.Node("Transpose", ["input"], [OnnxAttribute.Ints("perm", 1, 0)]);
            string table = graph.Initializer("embedding.weight", Floats(parameters["embedding.weight"]));
            x = graph.Node("Gather", [table, ids], [OnnxAttribute.Int("axis", 0)]);
        }
        else
        {
            x = graph.Node("Transpose", ["input"], [OnnxAttribute.Ints("perm", 1, 0, 2)]);
        }

        // Between-layer dropout (LayerDropout) acts only while training: nothing to add at inference.
        for (int l = 0; l < spec.Layers; l++)
        {
            string y = RecurrentLayer(graph, spec, parameters, l, layout.Directions, x, lengths, options.ReorderGates);
            // Residual: layer l ≥ 1 adds its input (the previous layer's output, as wide) to its output.
            x = spec.Residual && l >= 1 ? graph.Node("Add", [y, x], []) : y;
        }

        int O = spec.OutputSize, features = layout.Directions * spec.HiddenSize;
        var headWeight = parameters["head.weight"];
        string headBias = graph.Initializer("head.bias", Floats(parameters["head.bias"]));
        OnnxValueInfo output;
        if (spec.PerStep)
        {
            string steps = graph.Node("Transpose", [x], [OnnxAttribute.Ints("perm", 1, 0, 2)]); // [batch, sequence, D·H]
            var transposed = new float[features * O];                                              // head.weight [O, D·H] → [D·H, O]
            for (int o = 0; o < O; o++)
                for (int f = 0; f < features; f++) transposed[f * O + o] = headWeight.Data[o * features + f];
            string w = graph.Initializer("head.weight_t", OnnxTensor.Floats("", [features, O], transposed));
            string product = graph.Node("MatMul", [steps, w], []);
            graph.Node("Add", [product, headBias], [], output: "output");
            output = new OnnxValueInfo("output", OnnxDataType.Float, [OnnxDim.Dynamic("batch"), OnnxDim.Dynamic("sequence"), OnnxDim.Fixed(O)],
                "one output vector per step (meaningless at padded steps)");
        }
        else
        {
            string last = spec.Attention != AttentionKind.None
                ? AttentionContext(graph, spec.Attention, parameters, x, lengths, features)             // [batch, D·H]
                : layout.Directions == 2
                    ? BidirectionalLast(graph, x, lengths, spec.HiddenSize)                              // [batch, 2H]
                    : LastRealStep(graph, x, lengths);                                                   // [batch, H]
            string w = graph.Initializer("head.weight", Floats(headWeight));
            graph.Node("Gemm", [last, w, headBias], [OnnxAttribute.Int("transB", 1)], output: "output");
            output = new OnnxValueInfo("output", OnnxDataType.Float, [OnnxDim.Dynamic("batch"), OnnxDim.Fixed(O)],
                spec.Attention == AttentionKind.None ? "one output vector per sequence, read at its last real step" : "one output vector per sequence, read from its attention context");
        }

        var model = new OnnxModel(IrVersion, [new OnnxOpset("", Opset)], "recur",
            typeof(SequenceModel).Assembly.GetName().Version?.ToString() ?? "0",
            $"Recur {Task(file)} model: {file.Model}. Inputs: 'input'{(lengths is null ? "" : " and 'lengths'")}; output 'output'. " +
            "Preprocessing (scalers, vocabulary or tokenizer, columns) is in the metadata key recur.data.",
            graph.Build("recur", inputs, [output]), Metadata(file));
        return ((IOnnxMessage)model).ToBytes();
    }

    /// <summary>
    /// One ONNX recurrent node over x [sequence, batch, I]; returns its output as [sequence, batch, D·H] (D directions
    /// concatenated per step, forward first, as PyTorch's output).
    /// </summary>
    private static string RecurrentLayer(GraphBuilder graph, SequenceModelSpec spec, IReadOnlyDictionary<string, Tensor> p,
        int layer, int directions, string x, string? lengths, bool reorder)
    {
        int H = spec.HiddenSize, G = GateCount(spec.Cell);
        int I = layer == 0 ? (spec.VocabularySize > 0 ? spec.EmbeddingSize : spec.InputSize) : directions * H;
        // W [D, G·H, I], R [D, G·H, H], B [D, 2·G·H] = (Wb, Rb): each direction's PyTorch tensors, gates reordered.
        var W = new float[directions * G * H * I];
        var R = new float[directions * G * H * H];
        var B = new float[directions * 2 * G * H];
        for (int d = 0; d < directions; d++)
        {
            string suffix = $"_l{layer}{ParameterLayout.DirectionSuffix(d)}";
            Gates(spec.Cell, p[$"encoder.weight_ih{suffix}"], W.AsSpan(d * G * H * I, G * H * I), H, I, reorder);
            Gates(spec.Cell, p[$"encoder.weight_hh{suffix}"], R.AsSpan(d * G * H * H, G * H * H), H, H, reorder);
            Gates(spec.Cell, p[$"encoder.bias_ih{suffix}"], B.AsSpan(d * 2 * G * H, G * H), H, 1, reorder);
            Gates(spec.Cell, p[$"encoder.bias_hh{suffix}"], B.AsSpan(d * 2 * G * H + G * H, G * H), H, 1, reorder);
        }
        string prefix = $"encoder_l{layer}";
        string w = graph.Initializer($"{prefix}.W", OnnxTensor.Floats("", [directions, G * H, I], W));
        string r = graph.Initializer($"{prefix}.R", OnnxTensor.Floats("", [directions, G * H, H], R));
        string b = graph.Initializer($"{prefix}.B", OnnxTensor.Floats("", [directions, 2 * G * H], B));

        var attributes = new List<OnnxAttribute>
        {
            OnnxAttribute.Int("hidden_size", H),
            OnnxAttribute.String("direction", directions == 2 ? "bidirectional" : "forward"),
            OnnxAttribute.Int("layout", 0),
        };
        string op;
        switch (spec.Cell)
        {
            case CellKind.Lstm:
                op = "LSTM"; // default activations Sigmoid, Tanh, Tanh; no peepholes; input_forget = 0
                break;
            case CellKind.Gru:
                op = "GRU";  // reset applied after the recurrent product, as PyTorch
                attributes.Add(OnnxAttribute.Int("linear_before_reset", 1));
                break;
            case CellKind.Rnn:
                op = "RNN";
                attributes.Add(OnnxAttribute.Strings("activations", [.. Enumerable.Repeat("Tanh", directions)]));
                break;
            default:
                throw new NotSupportedException($"cell {spec.Cell}");
        }
        string[] inputs = lengths is null ? [x, w, r, b] : [x, w, r, b, lengths];
        string y = graph.Node(op, inputs, attributes, name: prefix); // Y [sequence, D, batch, H]
        if (directions == 1) return graph.Node("Squeeze", [y, graph.Int64s("axes_1", 1)], []);
        string perStep = graph.Node("Transpose", [y], [OnnxAttribute.Ints("perm", 0, 2, 1, 3)]); // [sequence, batch, D, H]
        return graph.Node("Reshape", [perStep, graph.Int64s("shape_keep2_merge", 0, 0, -1)], []);
    }

    private static void Gates(CellKind cell, Tensor pyTorch, Span<float> onnx, int hidden, int columns, bool reorder)
    {
        if (reorder) GateOrder.Reorder(cell, pyTorch.Data, onnx, hidden, columns);
        else pyTorch.Data.AsSpan().CopyTo(onnx);
    }

    /// <summary>x [sequence, batch, F] → [batch, F] at each sequence's last real step (lengths − 1, or the last step).</summary>
    private static string LastRealStep(GraphBuilder graph, string x, string? lengths)
    {
        if (lengths is null) return graph.Node("Gather", [x, graph.Int64Scalar("minus_one", -1)], [OnnxAttribute.Int("axis", 0)]);
        string batchMajor = graph.Node("Transpose", [x], [OnnxAttribute.Ints("perm", 1, 0, 2)]);                // [batch, sequence, F]
        string lastIndex = graph.Node("Sub", [lengths, graph.Int32Scalar("one_i32", 1)], []);                  // [batch] int32
        string index64 = graph.Node("Cast", [lastIndex], [OnnxAttribute.Int("to", (long)OnnxDataType.Int64)]);
        string indices = graph.Node("Unsqueeze", [index64, graph.Int64s("axes_1", 1)], []);                   // [batch, 1]
        return graph.Node("GatherND", [batchMajor, indices], [OnnxAttribute.Int("batch_dims", 1)]);           // [batch, F]
    }

    /// <summary>
    /// x [sequence, batch, 2H] (per step forward, backward) → [batch, 2H] as <see cref="TimeSteps.BidirectionalLast"/>:
    /// the forward half at each sequence's last real step beside the backward half at step 0 (where the backward
    /// direction, started at the last real step, has read the whole sequence).
    /// </summary>
    private static string BidirectionalLast(GraphBuilder graph, string x, string? lengths, int hidden)
    {
        string axes = graph.Int64s("axes_last", -1);
        string last = LastRealStep(graph, x, lengths);                                                    // [batch, 2H]
        string forward = graph.Node("Slice", [last, graph.Int64s("start_0", 0), graph.Int64s("end_h", hidden), axes], []);
        string first = graph.Node("Gather", [x, graph.Int64Scalar("zero", 0)], [OnnxAttribute.Int("axis", 0)]); // [batch, 2H]
        string backward = graph.Node("Slice", [first, graph.Int64s("start_h", hidden), graph.Int64s("end_2h", 2L * hidden), axes], []);
        return graph.Node("Concat", [forward, backward], [OnnxAttribute.Int("axis", 1)]);                 // [batch, 2H]
    }

    /// <summary>
    /// Attention pooling as <see cref="AttentionPooling"/>: x [sequence, batch, F] → context [batch, F] = Σ_t α_t h_t,
    /// α the softmax over each sequence's real steps (steps ≥ lengths masked to −1e30 before the softmax, so they get
    /// weight 0); without lengths every step is real. Additive: score = vᵀ tanh(W h + b); dot: score = (qᵀ h)·(1/√F).
    /// </summary>
    private static string AttentionContext(GraphBuilder graph, AttentionKind kind, IReadOnlyDictionary<string, Tensor> p,
        string x, string? lengths, int features)
    {
        string y = graph.Node("Transpose", [x], [OnnxAttribute.Ints("perm", 1, 0, 2)]);                       // [batch, sequence, F]
        string column;                                                                                          // [batch, sequence, 1]
        if (kind == AttentionKind.Additive)
        {
            var weight = p["attention.weight"];                                                                 // [A, F]
            int A = weight.Dim(0);
            var transposed = new float[features * A];                                                           // → [F, A]
            for (int a = 0; a < A; a++)
                for (int f = 0; f < features; f++) transposed[f * A + a] = weight.Data[a * features + f];
            string w = graph.Initializer("attention.weight_t", OnnxTensor.Floats("", [features, A], transposed));
            string bias = graph.Initializer("attention.bias", Floats(p["attention.bias"]));
            string v = graph.Initializer("attention.v", OnnxTensor.Floats("", [A, 1], p["attention.v"].Data));
            string hidden = graph.Node("Tanh", [graph.Node("Add", [graph.Node("MatMul", [y, w], []), bias], [])], []);
            column = graph.Node("MatMul", [hidden, v], []);
        }
        else
        {
            string q = graph.Initializer("attention.query", OnnxTensor.Floats("", [features, 1], p["attention.query"].Data));
            string scale = graph.Initializer("attention.scale", OnnxTensor.Floats("", [], [(float)(1 / Math.Sqrt(features))]));
            column = graph.Node("Mul", [graph.Node("MatMul", [y, q], []), scale], []);
        }
        string scores = graph.Node("Squeeze", [column, graph.Int64s("axes_2", 2)], []);                        // [batch, sequence]
        if (lengths is not null)
        {
            string shape = graph.Node("Shape", [y], []);
            string steps = graph.Node("Gather", [shape, graph.Int64Scalar("one_i64", 1)], [OnnxAttribute.Int("axis", 0)]);
            string range = graph.Node("Range", [graph.Int64Scalar("zero_i64", 0), steps, graph.Int64Scalar("one_i64", 1)], []); // [sequence]
            string length64 = graph.Node("Cast", [lengths], [OnnxAttribute.Int("to", (long)OnnxDataType.Int64)]);
            string column64 = graph.Node("Unsqueeze", [length64, graph.Int64s("axes_1", 1)], []);            // [batch, 1]
            string real = graph.Node("Less", [range, column64], []);                                           // [batch, sequence]
            string masked = graph.Initializer("attention.masked", OnnxTensor.Floats("", [], [-1e30f]));
            scores = graph.Node("Where", [real, scores, masked], []);
        }
        string alpha = graph.Node("Softmax", [scores], [OnnxAttribute.Int("axis", 1)]);                        // [batch, sequence]
        string row = graph.Node("Unsqueeze", [alpha, graph.Int64s("axes_1", 1)], []);                          // [batch, 1, sequence]
        string context = graph.Node("MatMul", [row, y], []);                                                   // [batch, 1, F]
        return graph.Node("Squeeze", [context, graph.Int64s("axes_1", 1)], []);                                // [batch, F]
    }

    private static int GateCount(CellKind cell) => GateOrder.OnnxFromPyTorch(cell).Length;

    private static OnnxTensor Floats(Tensor t) => OnnxTensor.Floats("", [.. t.Shape.Select(d => (long)d)], t.Data);

    /// <summary>
    /// The spec properties this exporter knows. Any other property of <see cref="SequenceModelSpec"/> (an architecture
    /// option the graph cannot express yet, such as layer normalisation or an attention decoder) must still hold its default value, or
    /// the model is refused: a graph that ignored it would compute something else.
    /// </summary>
    private static readonly HashSet<string> KnownSpecProperties =
    [
        nameof(SequenceModelSpec.Cell), nameof(SequenceModelSpec.InputSize), nameof(SequenceModelSpec.HiddenSize),
        nameof(SequenceModelSpec.Layers), nameof(SequenceModelSpec.OutputSize), nameof(SequenceModelSpec.VocabularySize),
        nameof(SequenceModelSpec.EmbeddingSize), nameof(SequenceModelSpec.PerStep),
        nameof(SequenceModelSpec.Dropout),        // inactive at inference
        nameof(SequenceModelSpec.LayerDropout),   // between layers, inactive at inference
        nameof(SequenceModelSpec.Bidirectional),  // direction="bidirectional", the _reverse parameters
        nameof(SequenceModelSpec.Residual),       // Add of each layer l ≥ 1's input to its output
        // Variational input and recurrent dropout act only while training: the inference graph is the plain stack's.
        // (Zoneout is not listed: at inference it mixes h_{t−1} into every step, h = z·h_{t−1} + (1−z)·h̃, which the
        // ONNX recurrent operators cannot express; layer norm is not listed either: it changes every gate; nor is
        // DecoderAttention, which is not written to the graph yet.)
        nameof(SequenceModelSpec.InputDropout), nameof(SequenceModelSpec.RecurrentDropout),
        nameof(SequenceModelSpec.Initialization), // how weights were drawn; the file's weights are exported
        nameof(SequenceModelSpec.Attention),      // attention pooling: scores, masked softmax, context before the head
    ];

    internal static void CheckArchitecture(SequenceModelSpec spec, string source)
    {
        if (spec.Cell is not (CellKind.Lstm or CellKind.Gru or CellKind.Rnn))
            throw new InvalidInputException($"{source}: cell '{spec.Cell}' cannot be exported to ONNX yet (supported: lstm, gru, rnn).");
        if (spec.Stateful)
            throw new InvalidInputException($"{source}: a stateful forecaster carries its recurrent state across the whole series, and the exported graph " +
                                            "has no state inputs or outputs, so it would forecast from a zero state; nothing was written. Use recur predict or recur serve, " +
                                            "or train without --stateful to export.");
        if (spec.TargetVocabularySize > 0)
            throw new InvalidInputException($"{source}: a seq2seq model decodes token by token in a loop (greedy or beam search, stopping at its end token), which ONNX export does not write; nothing was written. Use 'recur predict' instead.");
        var defaults = new SequenceModelSpec();
        var unsupported = new List<string>();
        foreach (var property in typeof(SequenceModelSpec).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (KnownSpecProperties.Contains(property.Name) || property.GetIndexParameters().Length > 0) continue;
            object? value = property.GetValue(spec), fallback = property.GetValue(defaults);
            if (!Equals(value, fallback)) unsupported.Add($"{property.Name} = {value}");
        }
        if (unsupported.Count > 0)
            throw new InvalidInputException($"{source}: the model uses {string.Join(", ", unsupported)}, which ONNX export does not support yet; nothing was written.");
    }

    private static string Task(ModelFile file)
    {
        if (!string.IsNullOrEmpty(file.Config.Task)) return file.Config.Task;
        try
        {
            using var doc = JsonDocument.Parse(file.DataState);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("task", out var t) && t.ValueKind == JsonValueKind.String)
                return t.GetString()!;
        }
        catch (JsonException)
        {
            // no task recorded
        }
        return "";
    }

    private static List<KeyValuePair<string, string>> Metadata(ModelFile file) =>
    [
        new("recur.task", Task(file)),
        new("recur.format", ModelFile.FormatVersion),
        new("recur.config", file.Config.ToJson()),
        new("recur.model", ModelFile.ArchitectureJson(file.Model.Spec)),
        new("recur.data", file.DataState),
        new("recur.metrics", file.Metrics),
        new("recur.onnx", JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["inputs"] = file.Model.Spec.VocabularySize > 0 ? "input: int64 token ids [batch, sequence]" : "input: float [batch, sequence, features]",
            ["lengths"] = "lengths: int32 [batch], real steps of each right-padded sequence (when present)",
            ["output"] = file.Model.Spec.PerStep ? "output: float [batch, sequence, outputs]" : "output: float [batch, outputs]",
        })),
    ];
}

/// <summary>
/// The parameter names and shapes the exporter expects for a spec, PyTorch's names under the module prefixes
/// (<c>embedding.weight</c>, <c>encoder.weight_ih_l0</c>, <c>encoder.weight_ih_l0_reverse</c> for a second
/// direction, <c>head.weight</c>, <c>head.bias</c>). A model with any other parameter is refused.
/// </summary>
internal sealed class ParameterLayout
{
    private readonly Dictionary<string, int[]> _shapes;

    private ParameterLayout(int directions, Dictionary<string, int[]> shapes) => (Directions, _shapes) = (directions, shapes);

    public int Directions { get; }

    /// <summary>PyTorch's suffix of direction d: "" forward, "_reverse" backward.</summary>
    public static string DirectionSuffix(int direction) => direction == 0 ? "" : "_reverse";

    public static ParameterLayout Expected(SequenceModelSpec spec, int directions)
    {
        var shapes = new Dictionary<string, int[]>(StringComparer.Ordinal);
        int H = spec.HiddenSize, GH = GateOrder.OnnxFromPyTorch(spec.Cell).Length * H;
        int input = spec.InputSize;
        if (spec.VocabularySize > 0)
        {
            shapes["embedding.weight"] = [spec.VocabularySize, spec.EmbeddingSize];
            input = spec.EmbeddingSize;
        }
        for (int l = 0; l < spec.Layers; l++)
            for (int d = 0; d < directions; d++)
            {
                string suffix = $"_l{l}{DirectionSuffix(d)}";
                shapes[$"encoder.weight_ih{suffix}"] = [GH, l == 0 ? input : directions * H];
                shapes[$"encoder.weight_hh{suffix}"] = [GH, H];
                shapes[$"encoder.bias_ih{suffix}"] = [GH];
                shapes[$"encoder.bias_hh{suffix}"] = [GH];
            }
        if (spec.Attention == AttentionKind.Additive)
        {
            int F = directions * H;
            shapes["attention.weight"] = [F, F];
            shapes["attention.bias"] = [F];
            shapes["attention.v"] = [F];
        }
        else if (spec.Attention == AttentionKind.Dot)
        {
            shapes["attention.query"] = [directions * H];
        }
        shapes["head.weight"] = [spec.OutputSize, directions * H];
        shapes["head.bias"] = [spec.OutputSize];
        return new ParameterLayout(directions, shapes);
    }

    public void Check(IReadOnlyDictionary<string, Tensor> parameters, string source)
    {
        var unknown = parameters.Keys.Where(k => !_shapes.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
            throw new InvalidInputException($"{source}: parameter{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown)} belong{(unknown.Count > 1 ? "" : "s")} to a layer ONNX export does not support yet; nothing was written.");
        foreach (var (name, shape) in _shapes)
        {
            if (!parameters.TryGetValue(name, out var t))
                throw new InvalidInputException($"{source}: parameter {name} is missing; cannot export.");
            if (!t.Shape.SequenceEqual(shape))
                throw new InvalidInputException($"{source}: parameter {name} has shape {t.ShapeText}; expected [{string.Join(", ", shape)}].");
        }
    }
}

/// <summary>Collects nodes and initializers with unique value names.</summary>
internal sealed class GraphBuilder
{
    private readonly List<OnnxNode> _nodes = [];
    private readonly List<OnnxTensor> _initializers = [];
    private readonly HashSet<string> _initializerNames = [];
    private readonly Dictionary<string, int> _counts = [];

    /// <summary>Adds a node with one output and returns the output's name.</summary>
    public string Node(string op, string[] inputs, IReadOnlyList<OnnxAttribute> attributes, string? output = null, string? name = null)
    {
        _counts[op] = _counts.GetValueOrDefault(op) + 1;
        string nodeName = name ?? $"{op}_{_counts[op]}";
        output ??= nodeName + "_out";
        _nodes.Add(new OnnxNode(op, inputs, [output], nodeName, attributes));
        return output;
    }

    /// <summary>Adds a constant (once per name) and returns its name.</summary>
    public string Initializer(string name, OnnxTensor tensor)
    {
        if (_initializerNames.Add(name)) _initializers.Add(tensor with { Name = name });
        return name;
    }

    public string Int64s(string name, params long[] values) => Initializer(name, OnnxTensor.Int64s(name, [values.Length], values));
    public string Int64Scalar(string name, long value) => Initializer(name, OnnxTensor.Int64s(name, [], [value]));
    public string Int32Scalar(string name, int value) => Initializer(name, OnnxTensor.Int32s(name, [], [value]));

    public OnnxGraph Build(string name, IReadOnlyList<OnnxValueInfo> inputs, IReadOnlyList<OnnxValueInfo> outputs) =>
        new(name, _nodes, _initializers, inputs, outputs);
}
