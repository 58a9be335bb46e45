using Microsoft.ML.OnnxRuntime;
using Recur.Layers;
using Recur.Models;
using Recur.Onnx;
using Recur.Randomness;
using Recur.Tests.Cli;
using Xunit.Abstractions;

namespace Recur.Tests.Onnx;

/// <summary>
/// Every exported model kind runs in ONNX Runtime and matches <see cref="SequenceModel.Forward"/> to ≤ 1e-5 relative
/// error on the real steps of random right-padded batches of several lengths.
/// </summary>
public class OnnxExportTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-5;

    public static SequenceModelSpec Spec(string kind, CellKind cell, int layers) => kind switch
    {
        // forecast: a window of 3 numeric inputs → the next 2 values
        "forecast" => new() { Cell = cell, Layers = layers, InputSize = 3, HiddenSize = 7, OutputSize = 2 },
        // classify text: token ids through an embedding → 4 classes
        "classify-text" => new() { Cell = cell, Layers = layers, VocabularySize = 23, EmbeddingSize = 5, HiddenSize = 6, OutputSize = 4 },
        // classify numeric sequences → 3 classes
        "classify-numeric" => new() { Cell = cell, Layers = layers, InputSize = 2, HiddenSize = 5, OutputSize = 3 },
        // tag: token ids → one of 5 tags per step
        "tag" => new() { Cell = cell, Layers = layers, VocabularySize = 17, EmbeddingSize = 4, HiddenSize = 6, OutputSize = 5, PerStep = true },
        // lm: token ids → next-token logits per step over the same vocabulary
        "lm" => new() { Cell = cell, Layers = layers, VocabularySize = 11, EmbeddingSize = 6, HiddenSize = 8, OutputSize = 11, PerStep = true },
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static string Task(string kind) => kind.StartsWith("classify", StringComparison.Ordinal) ? "classify" : kind;

    public static TheoryData<string, CellKind, int> Kinds()
    {
        var data = new TheoryData<string, CellKind, int>();
        foreach (var kind in new[] { "forecast", "classify-text", "classify-numeric", "tag", "lm" })
            foreach (var cell in new[] { CellKind.Lstm, CellKind.Gru, CellKind.Rnn })
                foreach (int layers in new[] { 1, 2 })
                    data.Add(kind, cell, layers);
        return data;
    }

    /// <summary>Batches: one step of one sequence, padded batches of mixed lengths (including 1 and the full length), and an unpadded one.</summary>
    private static IEnumerable<(int Batch, int Steps, int[]? Lengths)> Batches(RecurRandom random)
    {
        yield return (1, 1, [1]);
        yield return (5, 9, [9, 1, 4, 7, 2]);
        int steps = 6 + random.NextInt(10);
        var lengths = Enumerable.Range(0, 4).Select(_ => 1 + random.NextInt(steps)).ToArray();
        lengths[random.NextInt(4)] = steps;
        yield return (4, steps, lengths);
        yield return (3, 12, null);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void OnnxRuntimeMatchesRecur(string kind, CellKind cell, int layers) =>
        CheckParity(kind, Spec(kind, cell, layers), $"{kind} {cell} layers={layers}");

    /// <summary>
    /// Bidirectional stacks: direction="bidirectional" layers, the next layer reading [forward, backward] per step;
    /// per sequence the head reads the forward output at the last real step beside the backward output at step 0.
    /// </summary>
    [Theory]
    [MemberData(nameof(Kinds))]
    public void BidirectionalOnnxRuntimeMatchesRecur(string kind, CellKind cell, int layers) =>
        CheckParity(kind, Spec(kind, cell, layers) with { Bidirectional = true }, $"bidirectional {kind} {cell} layers={layers}");

    /// <summary>Between-layer dropout is the identity at inference; residual layers add their input to their output.</summary>
    [Theory]
    [InlineData("forecast", CellKind.Lstm, 3, false, true, 0.3)]
    [InlineData("classify-text", CellKind.Gru, 2, true, true, 0.2)]
    [InlineData("tag", CellKind.Rnn, 2, false, false, 0.25)]
    [InlineData("lm", CellKind.Lstm, 2, true, true, 0.1)]
    [InlineData("classify-numeric", CellKind.Rnn, 3, true, true, 0)]
    [InlineData("tag", CellKind.Gru, 3, true, false, 0.4)]
    public void LayerDropoutAndResidualStacksMatchRecur(string kind, CellKind cell, int layers, bool bidirectional, bool residual, double layerDropout) =>
        CheckParity(kind, Spec(kind, cell, layers) with { Bidirectional = bidirectional, Residual = residual, LayerDropout = layerDropout },
            $"{kind} {cell} layers={layers} bidirectional={bidirectional} residual={residual} layer-dropout={layerDropout}");

    public static TheoryData<string, CellKind, int, AttentionKind, bool> AttentionCases()
    {
        var data = new TheoryData<string, CellKind, int, AttentionKind, bool>();
        foreach (string kind in new[] { "classify-text", "classify-numeric", "forecast" })
            foreach (var attention in new[] { AttentionKind.Additive, AttentionKind.Dot })
            {
                foreach (var cell in new[] { CellKind.Lstm, CellKind.Gru })
                    foreach (int layers in new[] { 1, 2 })
                        data.Add(kind, cell, layers, attention, false);
                data.Add(kind, attention == AttentionKind.Additive ? CellKind.Lstm : CellKind.Gru, 2, attention, true);
            }
        return data;
    }

    /// <summary>Attention pooling: scores, a softmax masked to each sequence's real steps, the context before the head.</summary>
    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void AttentionPoolingOnnxRuntimeMatchesRecur(string kind, CellKind cell, int layers, AttentionKind attention, bool bidirectional) =>
        CheckParity(kind, Spec(kind, cell, layers) with { Attention = attention, Bidirectional = bidirectional },
            $"attention={attention} {kind} {cell} layers={layers} bidirectional={bidirectional}");

    [Theory]
    [InlineData("classify-text", CellKind.Lstm, AttentionKind.Additive, false)]
    [InlineData("forecast", CellKind.Gru, AttentionKind.Dot, true)]
    public void AttentionWithoutLengthsUsesAllSteps(string kind, CellKind cell, AttentionKind attention, bool bidirectional)
    {
        using var dir = new TempDirectory();
        var spec = Spec(kind, cell, 2) with { Attention = attention, Bidirectional = bidirectional };
        var file = OnnxHarness.SaveAndLoad(OnnxHarness.RandomModel(spec, 5), Task(kind), dir.Path);
        using var session = new InferenceSession(OnnxExporter.Export(file, new OnnxExportOptions { Lengths = false }));
        Assert.Equal(["input"], session.InputMetadata.Keys.ToArray());
        var batch = OnnxHarness.RandomBatch(spec, 3, 10, null, new RecurRandom(3));
        double error = OnnxHarness.RelativeError(spec, batch, OnnxHarness.OnnxForward(session, spec, batch, withLengths: false),
            OnnxHarness.RecurForward(file.Model, batch));
        output.WriteLine($"onnx-max-relative-error no-lengths attention={attention} {kind} {cell}: {error:E3}");
        Assert.True(error <= Tolerance, $"relative error {error:E2}");
    }

    private void CheckParity(string kind, SequenceModelSpec spec, string label)
    {
        using var dir = new TempDirectory();
        var file = OnnxHarness.SaveAndLoad(OnnxHarness.RandomModel(spec, seed: label.Aggregate(17UL, (h, c) => h * 31 + c) % 100_000), Task(kind), dir.Path);
        Assert.Equal(spec, file.Model.Spec with { Initialization = spec.Initialization });
        string path = dir.File("model.onnx");
        OnnxExporter.Write(file, path);
        using var session = new InferenceSession(path);

        Assert.Equal(["input", "lengths"], session.InputMetadata.Keys.ToArray());
        Assert.Equal(["output"], session.OutputMetadata.Keys.ToArray());
        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal(Task(kind), metadata["recur.task"]);
        Assert.Equal(file.DataState, metadata["recur.data"]);
        Assert.Contains("\"hidden_size\"", metadata["recur.model"]);
        Assert.Contains(Task(kind), metadata["recur.config"]);
        Assert.Equal("recur", session.ModelMetadata.ProducerName);

        var random = new RecurRandom(7);
        double worst = 0;
        foreach (var (B, T, lengths) in Batches(random))
        {
            var batch = OnnxHarness.RandomBatch(spec, B, T, lengths, random);
            double error = OnnxHarness.RelativeError(spec, batch,
                OnnxHarness.OnnxForward(session, spec, batch, withLengths: true), OnnxHarness.RecurForward(file.Model, batch));
            Assert.True(error <= Tolerance, $"{label}, batch {B}×{T}: relative error {error:E2} > {Tolerance:E0}");
            worst = Math.Max(worst, error);
        }
        output.WriteLine($"onnx-max-relative-error {label}: {worst:E3}");
    }

    [Theory]
    [InlineData("forecast", CellKind.Lstm, false)]
    [InlineData("lm", CellKind.Gru, false)]
    [InlineData("classify-text", CellKind.Lstm, true)]
    [InlineData("tag", CellKind.Rnn, true)]
    public void WithoutLengthsEverySequenceUsesAllItsSteps(string kind, CellKind cell, bool bidirectional)
    {
        using var dir = new TempDirectory();
        var spec = Spec(kind, cell, 2) with { Bidirectional = bidirectional };
        var file = OnnxHarness.SaveAndLoad(OnnxHarness.RandomModel(spec, 5), Task(kind), dir.Path);
        using var session = new InferenceSession(OnnxExporter.Export(file, new OnnxExportOptions { Lengths = false }));
        Assert.Equal(["input"], session.InputMetadata.Keys.ToArray());
        var batch = OnnxHarness.RandomBatch(spec, 3, 10, null, new RecurRandom(3));
        double error = OnnxHarness.RelativeError(spec, batch, OnnxHarness.OnnxForward(session, spec, batch, withLengths: false),
            OnnxHarness.RecurForward(file.Model, batch));
        output.WriteLine($"onnx-max-relative-error no-lengths {kind} {cell} bidirectional={bidirectional}: {error:E3}");
        Assert.True(error <= Tolerance, $"relative error {error:E2}");
    }

    [Fact]
    public void BatchAndSequenceAxesAreDynamic()
    {
        using var dir = new TempDirectory();
        var spec = Spec("tag", CellKind.Lstm, 1);
        var file = OnnxHarness.SaveAndLoad(OnnxHarness.RandomModel(spec, 9), "tag", dir.Path);
        using var session = new InferenceSession(OnnxExporter.Export(file));
        Assert.Equal([-1, -1], session.InputMetadata["input"].Dimensions);
        Assert.Equal(["batch", "sequence"], session.InputMetadata["input"].SymbolicDimensions);
        Assert.Equal(["batch", "sequence", ""], session.OutputMetadata["output"].SymbolicDimensions);
        Assert.Equal(spec.OutputSize, session.OutputMetadata["output"].Dimensions[2]);
    }

    /// <summary>
    /// The gate reordering is exercised: the same export with the weights left in PyTorch's gate order runs, but
    /// computes something else — so the parity tests above would fail if <see cref="GateOrder"/> were bypassed.
    /// </summary>
    [Theory]
    [InlineData(CellKind.Lstm)]
    [InlineData(CellKind.Gru)]
    public void WithoutGateReorderingTheOutputsDiffer(CellKind cell)
    {
        using var dir = new TempDirectory();
        var spec = Spec("forecast", cell, 1);
        var file = OnnxHarness.SaveAndLoad(OnnxHarness.RandomModel(spec, 11), "forecast", dir.Path);
        using var session = new InferenceSession(OnnxExporter.Export(file, new OnnxExportOptions { ReorderGates = false }));
        var batch = OnnxHarness.RandomBatch(spec, 4, 8, [8, 3, 5, 1], new RecurRandom(1));
        double error = OnnxHarness.RelativeError(spec, batch, OnnxHarness.OnnxForward(session, spec, batch, withLengths: true),
            OnnxHarness.RecurForward(file.Model, batch));
        output.WriteLine($"{cell} without reordering: relative error {error:E3}");
        Assert.True(error > 1e-2, $"without the reordering the error is only {error:E2}: the test weights do not exercise the gate order");
    }

    [Fact]
    public void GateBlocksMoveFromPyTorchToOnnxOrder()
    {
        // Blocks of H = 2 rows × 1 column labelled by their PyTorch gate: LSTM i f g o → i o f c; GRU r z n → z r h.
        float[] lstm = [0, 0, 1, 1, 2, 2, 3, 3], lstmOnnx = new float[8];
        GateOrder.Reorder(CellKind.Lstm, lstm, lstmOnnx, hidden: 2, columns: 1);
        Assert.Equal([0, 0, 3, 3, 1, 1, 2, 2], lstmOnnx);
        float[] gru = [0, 0, 1, 1, 2, 2], gruOnnx = new float[6];
        GateOrder.Reorder(CellKind.Gru, gru, gruOnnx, hidden: 2, columns: 1);
        Assert.Equal([1, 1, 0, 0, 2, 2], gruOnnx);
    }

    [Fact]
    public void AParameterOfAnUnsupportedLayerIsRefused()
    {
        var spec = Spec("forecast", CellKind.Lstm, 1);
        var model = OnnxHarness.RandomModel(spec, 1);
        var parameters = model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value);
        parameters["encoder.weight_ih_l0_reverse"] = parameters["encoder.weight_ih_l0"];
        var e = Assert.Throws<InvalidInputException>(() => ParameterLayout.Expected(spec, 1).Check(parameters, "m.safetensors"));
        Assert.Contains("encoder.weight_ih_l0_reverse", e.Message);
        Assert.Contains("does not support", e.Message);
    }

    [Fact]
    public void AnUnknownCellIsRefused()
    {
        var e = Assert.Throws<InvalidInputException>(() => OnnxExporter.CheckArchitecture(new SequenceModelSpec { Cell = (CellKind)42 }, "m.safetensors"));
        Assert.Contains("cannot be exported", e.Message);
    }
}
