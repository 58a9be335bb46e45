using Recur.Autograd;
using Recur.Layers;
using Recur.Models;
using Recur.Randomness;
using Recur.Serialization;
using Recur.Tensors;
using Recur.Training;

namespace Recur.Tests.Layers;

/// <summary>Recurrent regularisation and layer norm through the modules and the sequence model.</summary>
public class RecurrentModuleRegularizationTests
{
    private static Variable Input(int batch, int steps, int features, ulong seed)
    {
        var random = new RecurRandom(seed);
        return new Variable(new Tensor(Enumerable.Range(0, batch * steps * features).Select(_ => (float)random.Uniform(-1, 1)).ToArray(), batch, steps, features), requiresGrad: true);
    }

    [Fact]
    public void LayerNormAddsNamedGainsAndBiases()
    {
        var lstm = new Lstm("encoder", 3, 5, numLayers: 2, layerNorm: true);
        var names = lstm.Parameters.Select(p => p.Name).ToList();
        foreach (var l in new[] { 0, 1 })
        {
            foreach (var n in new[] { "ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias" })
                Assert.Equal([20], lstm.Parameters.Single(p => p.Name == $"encoder.{n}_l{l}").Value.Shape);
            Assert.Equal([5], lstm.Parameters.Single(p => p.Name == $"encoder.ln_c_weight_l{l}").Value.Shape);
            Assert.All(lstm.Parameters.Single(p => p.Name == $"encoder.ln_c_weight_l{l}").Value.Data, v => Assert.Equal(1f, v));
            Assert.All(lstm.Parameters.Single(p => p.Name == $"encoder.ln_c_bias_l{l}").Value.Data, v => Assert.Equal(0f, v));
        }
        var gru = new Gru("encoder", 3, 5, layerNorm: true);
        Assert.DoesNotContain(gru.Parameters, p => p.Name.Contains("ln_c"));
        Assert.Equal(8, gru.Parameters.Count);
    }

    [Theory]
    [InlineData("lstm")]
    [InlineData("gru")]
    public void LayerNormModuleTrainsEveryParameter(string cell)
    {
        var layer = RecurrentLayers.Create(RecurrentLayers.ParseCell(cell), "encoder", 3, 4, 2, random: new RecurRandom(1), layerNorm: true);
        var input = Input(2, 5, 3, 2);
        var tape = new Tape();
        var output = layer.Forward(tape, input, null, null, [5, 3]).Output;
        tape.Backward([(output, new Tensor(Enumerable.Range(0, output.Value.Length).Select(i => (float)Math.Sin(i)).ToArray(), output.Value.Shape))]);
        foreach (var p in layer.Parameters) Assert.True(p.HasGrad && p.Grad.Data.Any(v => v != 0), $"{p.Name} got no gradient");
    }

    [Fact]
    public void InferenceAppliesNoDropoutAndDrawsNothing()
    {
        var plain = new Gru("encoder", 3, 6, numLayers: 2, random: new RecurRandom(4));
        var regularized = new Gru("encoder", 3, 6, numLayers: 2, random: new RecurRandom(4))
        {
            Regularization = new RecurrentRegularization(InputDropout: 0.3, RecurrentDropout: 0.5),
        };
        var input = Input(3, 7, 3, 5);
        var expected = plain.Forward(Tape.Inference, input).Output.Value.Data;
        var random = new RecurRandom(9);
        var before = random.Save();
        Assert.Equal(expected, regularized.Forward(Tape.Inference, input).Output.Value.Data);
        Assert.Equal(expected, regularized.Forward(Tape.Inference, input, null, null, null, training: null).Output.Value.Data);
        Assert.Equal(before, random.Save());
        Assert.Null(regularized.LastOptions);

        var trained = regularized.Forward(new Tape(), input, null, null, null, training: random).Output.Value.Data;
        Assert.NotEqual(expected, trained);
        Assert.NotEqual(before, random.Save());
        var drawn = regularized.LastOptions!;
        Assert.Equal(2, drawn.Count);
        Assert.Equal(3 * 3, drawn[0]!.InputMask!.Length);   // [B, I] for layer 0
        Assert.Equal(3 * 6, drawn[1]!.InputMask!.Length);   // [B, H] for layer 1
        Assert.Equal(3 * 6, drawn[1]!.RecurrentMask!.Length);
    }

    [Fact]
    public void TrainingMasksAreReproducibleBySeed()
    {
        float[] Run(ulong seed)
        {
            var lstm = new Lstm("encoder", 3, 5, random: new RecurRandom(4)) { Regularization = new(0.2, 0.3, 0.1) };
            return lstm.Forward(new Tape(), Input(2, 6, 3, 5), null, null, null, training: new RecurRandom(seed)).Output.Value.Data;
        }
        Assert.Equal(Run(11), Run(11));
        Assert.NotEqual(Run(11), Run(12));
    }

    [Fact]
    public void ZoneoutAtInferenceIsItsExpectation()
    {
        var lstm = new Lstm("encoder", 2, 4, random: new RecurRandom(3)) { Regularization = new(Zoneout: 0.4) };
        var plain = new Lstm("encoder", 2, 4, random: new RecurRandom(3));
        var input = Input(2, 5, 2, 6);
        var output = lstm.Forward(Tape.Inference, input);
        var options = lstm.LastOptions!.Single()!;
        Assert.Equal(0.4, options.Zoneout);
        Assert.Null(options.ZoneoutHidden);
        Assert.NotEqual(plain.Forward(Tape.Inference, input).Output.Value.Data, output.Output.Value.Data);
        // First step from h0 = 0: h_1 = 0.4·0 + 0.6·h̃_1, with h̃_1 the plain cell's first output.
        var first = plain.Forward(Tape.Inference, input).Output.Value.Data;
        for (int j = 0; j < 4; j++) Assert.Equal(0.6f * first[j], output.Output.Value.Data[j], 6);
    }

    [Fact]
    public void RatesOutsideTheUnitIntervalAreRefused()
    {
        var lstm = new Lstm("encoder", 2, 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => lstm.Regularization = new RecurrentRegularization(RecurrentDropout: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => lstm.Regularization = new RecurrentRegularization(Zoneout: -0.1));
    }

    [Fact]
    public void ModelFileKeepsLayerNormAndRatesAndReadsOlderFilesAsOff()
    {
        using var dir = new Cli.TempDirectory();
        var spec = new SequenceModelSpec { Cell = CellKind.Lstm, InputSize = 2, HiddenSize = 4, LayerNorm = true, RecurrentDropout = 0.25, InputDropout = 0.1, Zoneout = 0.05 };
        var model = new SequenceModel(spec, new RecurRandom(1));
        new ModelFile(model, new TrainConfig(), "{}", "{}").Save(dir.File("m.safetensors"));
        var loaded = ModelFile.Load(dir.File("m.safetensors")).Model;
        Assert.Equal(spec with { Initialization = null }, loaded.Spec);
        Assert.Contains(loaded.Parameters, p => p.Name == "encoder.ln_c_bias_l0");

        var plain = new SequenceModel(new SequenceModelSpec { InputSize = 2, HiddenSize = 4 }, new RecurRandom(1));
        new ModelFile(plain, new TrainConfig(), "{}", "{}").Save(dir.File("p.safetensors"));
        var header = System.Text.Encoding.UTF8.GetString(File.ReadAllBytes(dir.File("p.safetensors")));
        Assert.DoesNotContain("layer_norm", header);
        var reloaded = ModelFile.Load(dir.File("p.safetensors")).Model.Spec;
        Assert.False(reloaded.LayerNorm);
        Assert.Equal(0, reloaded.RecurrentDropout);
    }
}
