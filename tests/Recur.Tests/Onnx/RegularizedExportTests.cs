using Microsoft.ML.OnnxRuntime;
using Recur.Layers;
using Recur.Models;
using Recur.Randomness;
using Recur.Tests.Cli;

namespace Recur.Tests.Onnx;

/// <summary>
/// <c>recur export</c> and the recurrent regularisation options: layer norm and zoneout change the inference
/// computation, so such models are refused (exit 2, nothing written); input and recurrent dropout act only while
/// training, so those models export and match Recur's inference.
/// </summary>
public class RegularizedExportTests
{
    [Theory]
    [InlineData("layer-norm")]
    [InlineData("zoneout")]
    [InlineData("layer-norm-gru")]
    public void ALayerNormOrZoneoutModelIsRefused(string kind)
    {
        using var dir = new TempDirectory();
        var spec = kind switch
        {
            "layer-norm" => OnnxExportTests.Spec("forecast", CellKind.Lstm, 2) with { LayerNorm = true },
            "layer-norm-gru" => OnnxExportTests.Spec("classify-text", CellKind.Gru, 1) with { LayerNorm = true, RecurrentDropout = 0.2 },
            _ => OnnxExportTests.Spec("forecast", CellKind.Lstm, 1) with { Zoneout = 0.1 },
        };
        string model = OnnxHarness.SaveAndLoad(OnnxHarness.RandomModel(spec, 3), "forecast", dir.Path).Path;
        var (exit, stdout, stderr) = CliRunner.Run("export", "--model", model, "--format", "onnx", "--out", dir.File("m.onnx"));
        Assert.True(exit == 2, $"exit {exit}: {stderr}");
        Assert.Equal("", stdout);
        Assert.Contains(kind.StartsWith("layer-norm") ? "LayerNorm = True" : "Zoneout = ", stderr);
        Assert.Contains("does not support", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(File.Exists(dir.File("m.onnx")));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public void InputAndRecurrentDropoutExportAsThePlainStack()
    {
        using var dir = new TempDirectory();
        var spec = OnnxExportTests.Spec("classify-numeric", CellKind.Lstm, 2) with { InputDropout = 0.2, RecurrentDropout = 0.3 };
        var file = OnnxHarness.SaveAndLoad(OnnxHarness.RandomModel(spec, 4), "classify", dir.Path);
        Assert.Equal(0.3, file.Model.Spec.RecurrentDropout);
        var (exit, _, stderr) = CliRunner.Run("export", "--model", file.Path, "--format", "onnx", "--out", dir.File("m.onnx"));
        Assert.True(exit == 0, stderr);

        using var session = new InferenceSession(dir.File("m.onnx"));
        var batch = OnnxHarness.RandomBatch(spec, 4, 9, [9, 3, 6, 1], new RecurRandom(5));
        double error = OnnxHarness.RelativeError(spec, batch, OnnxHarness.OnnxForward(session, spec, batch, withLengths: true),
            OnnxHarness.RecurForward(file.Model, batch));
        Assert.True(error <= 1e-5, $"relative error {error:E2}");
    }

    /// <summary>What the graph cannot express yet is still refused: the attention decoder and layer norm.</summary>
    [Theory]
    [InlineData("decoder")]
    [InlineData("layer-norm-bidirectional")]
    public void AnArchitectureTheGraphCannotExpressIsRefused(string kind)
    {
        using var dir = new TempDirectory();
        var (spec, fragment) = kind switch
        {
            "decoder" => (OnnxExportTests.Spec("forecast", CellKind.Gru, 1) with { DecoderAttention = AttentionKind.Dot, OutputSize = 3 }, "DecoderAttention = Dot"),
            _ => (OnnxExportTests.Spec("forecast", CellKind.Lstm, 2) with { LayerNorm = true, Bidirectional = true }, "LayerNorm = True"),
        };
        string model = OnnxHarness.SaveAndLoad(OnnxHarness.RandomModel(spec, 6), "forecast", dir.Path).Path;
        var (exit, stdout, stderr) = CliRunner.Run("export", "--model", model, "--format", "onnx", "--out", dir.File("m.onnx"));
        Assert.True(exit == 2, $"exit {exit}: {stderr}");
        Assert.Equal("", stdout);
        Assert.Contains(fragment, stderr);
        Assert.Contains("does not support", stderr);
        Assert.DoesNotContain("Bidirectional", stderr);
        Assert.DoesNotContain("Residual", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(File.Exists(dir.File("m.onnx")));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public void ALayerDropoutBidirectionalModelExportsThroughTheCommand()
    {
        using var dir = new TempDirectory();
        var spec = OnnxExportTests.Spec("classify-text", CellKind.Lstm, 2) with { Bidirectional = true, LayerDropout = 0.3, Residual = true };
        var file = OnnxHarness.SaveAndLoad(OnnxHarness.RandomModel(spec, 8), "classify", dir.Path);
        var (exit, _, stderr) = CliRunner.Run("export", "--model", file.Path, "--format", "onnx", "--out", dir.File("m.onnx"));
        Assert.True(exit == 0, stderr);
        using var session = new InferenceSession(dir.File("m.onnx"));
        var batch = OnnxHarness.RandomBatch(spec, 4, 10, [10, 2, 7, 1], new RecurRandom(9));
        double error = OnnxHarness.RelativeError(spec, batch, OnnxHarness.OnnxForward(session, spec, batch, withLengths: true),
            OnnxHarness.RecurForward(file.Model, batch));
        Assert.True(error <= 1e-5, $"relative error {error:E2}");
    }

    [Fact]
    public void ABidirectionalResidualAttentionModelExportsThroughTheCommand()
    {
        using var dir = new TempDirectory();
        var spec = OnnxExportTests.Spec("classify-text", CellKind.Gru, 2) with { Attention = AttentionKind.Additive, Bidirectional = true, Residual = true };
        var file = OnnxHarness.SaveAndLoad(OnnxHarness.RandomModel(spec, 6), "classify", dir.Path);
        var (exit, _, stderr) = CliRunner.Run("export", "--model", file.Path, "--format", "onnx", "--out", dir.File("m.onnx"));
        Assert.True(exit == 0, stderr);
        using var session = new InferenceSession(dir.File("m.onnx"));
        var batch = OnnxHarness.RandomBatch(spec, 4, 10, [10, 2, 7, 1], new RecurRandom(9));
        double error = OnnxHarness.RelativeError(spec, batch, OnnxHarness.OnnxForward(session, spec, batch, withLengths: true),
            OnnxHarness.RecurForward(file.Model, batch));
        Assert.True(error <= 1e-5, $"relative error {error:E2}");
    }
}
