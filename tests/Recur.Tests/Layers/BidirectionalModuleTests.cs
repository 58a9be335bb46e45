using Recur.Autograd;
using Recur.Layers;
using Recur.Layers.Recurrent;
using Recur.Models;
using Recur.Randomness;
using Recur.Serialization;
using Recur.Tensors;
using Recur.Training;

namespace Recur.Tests.Layers;

/// <summary>
/// Bidirectional, residual and dropout stacks through the float modules and the model: a padded batch equals each
/// sequence run alone, dropout masks come from the seed and vanish at inference, residual shapes and sums, the
/// plain path stays bit-identical, and the model's summary, gradient-flow groups and file keep the options.
/// </summary>
public class BidirectionalModuleTests
{
    private const int I = 3, H = 4, L = 2, B = 4, T = 7;
    private static readonly int[] Lengths = [7, 3, 5, 1];

    private static Tensor Random(RecurRandom rng, params int[] shape)
    {
        var t = new Tensor(shape);
        for (int i = 0; i < t.Length; i++) t.Data[i] = (float)rng.Uniform(-1, 1);
        return t;
    }

    [Theory]
    [InlineData(CellKind.Lstm, false)]
    [InlineData(CellKind.Gru, false)]
    [InlineData(CellKind.Rnn, false)]
    [InlineData(CellKind.Lstm, true)]
    [InlineData(CellKind.Gru, true)]
    public void BidirectionalPaddedBatchEqualsEachSequenceRunAlone(CellKind kind, bool residual)
    {
        var rng = new RecurRandom(41);
        var module = RecurrentLayers.Create(kind, "encoder", I, H, L, random: rng,
            options: new RecurrentStackOptions { Bidirectional = true, Residual = residual });
        bool lstm = kind == CellKind.Lstm;
        int S = 2 * L, W = 2 * H;
        var x = Random(rng, B, T, I);
        var h0 = Random(rng, S, B, H);
        var c0 = Random(rng, S, B, H);
        var gOutput = Random(rng, B, T, W);
        var gHidden = Random(rng, S, B, H);
        var gCell = Random(rng, S, B, H);

        var input = new Variable(x.Clone(), requiresGrad: true);
        var h0Var = new Variable(h0.Clone(), requiresGrad: true);
        var c0Var = lstm ? new Variable(c0.Clone(), requiresGrad: true) : null;
        var tape = new Tape();
        var padded = module.Forward(tape, input, h0Var, c0Var, Lengths);
        Assert.Equal([B, T, W], padded.Output.Value.Shape);
        Assert.Equal([S, B, H], padded.HiddenState.Value.Shape);
        tape.Backward(Seeds(padded, gOutput, gHidden, lstm ? gCell : null));
        var paddedWeightGrads = module.Parameters.Select(p => p.Grad.Data.ToArray()).ToList();
        foreach (var p in module.Parameters) p.ZeroGrad();

        var exp = new List<float>[8].Select(_ => new List<float>()).ToArray();
        var act = new List<float>[8].Select(_ => new List<float>()).ToArray();
        for (int b = 0; b < B; b++)
        {
            int n = Lengths[b];
            var xb = new Variable(new Tensor(x.Data.AsSpan(b * T * I, n * I).ToArray(), 1, n, I), requiresGrad: true);
            var h0b = new Variable(new Tensor(Column(h0, b), S, 1, H), requiresGrad: true);
            var c0b = lstm ? new Variable(new Tensor(Column(c0, b), S, 1, H), requiresGrad: true) : null;
            var alone = new Tape();
            var single = module.Forward(alone, xb, h0b, c0b);
            alone.Backward(Seeds(single, new Tensor(gOutput.Data.AsSpan(b * T * W, n * W).ToArray(), 1, n, W),
                new Tensor(Column(gHidden, b), S, 1, H), lstm ? new Tensor(Column(gCell, b), S, 1, H) : null));

            exp[0].AddRange(single.Output.Value.Data); act[0].AddRange(padded.Output.Value.Data.AsSpan(b * T * W, n * W).ToArray());
            exp[1].AddRange(single.HiddenState.Value.Data); act[1].AddRange(Column(padded.HiddenState.Value, b));
            exp[2].AddRange(xb.Grad.Data); act[2].AddRange(input.Grad.Data.AsSpan(b * T * I, n * I).ToArray());
            exp[3].AddRange(h0b.Grad.Data); act[3].AddRange(Column(h0Var.Grad, b));
            if (lstm)
            {
                exp[4].AddRange(single.CellState!.Value.Data); act[4].AddRange(Column(padded.CellState!.Value, b));
                exp[5].AddRange(c0b!.Grad.Data); act[5].AddRange(Column(c0Var!.Grad, b));
            }
            // Padded steps: output exactly zero in both halves, no gradient reaches the input there.
            Assert.All(padded.Output.Value.Data.AsSpan((b * T + n) * W, (T - n) * W).ToArray(), v => Assert.Equal(0f, v));
            Assert.All(input.Grad.Data.AsSpan((b * T + n) * I, (T - n) * I).ToArray(), v => Assert.Equal(0f, v));
        }
        string[] what = ["output on real steps", "h_n", "grad input", "grad h0", "c_n", "grad c0"];
        for (int i = 0; i < (lstm ? 6 : 4); i++) AssertClose(what[i], act[i], exp[i]);
        for (int i = 0; i < module.Parameters.Count; i++)
            AssertClose("grad " + module.Parameters[i].Name, paddedWeightGrads[i], module.Parameters[i].Grad.Data);
    }

    [Fact]
    public void BackwardHalfAtStepZeroAndForwardHalfAtTheLastRealStepAreTheFinalStates()
    {
        var rng = new RecurRandom(42);
        var gru = new Gru("encoder", I, H, L, random: rng, options: new RecurrentStackOptions { Bidirectional = true });
        var r = gru.Forward(Tape.Inference, new Variable(Random(rng, B, T, I)), lengths: Lengths);
        var summary = TimeSteps.BidirectionalLast(Tape.Inference, r.Output, Lengths).Value;
        var h = r.HiddenState.Value.Data;
        for (int b = 0; b < B; b++)
        {
            Assert.Equal(h.AsSpan(((2 * L - 2) * B + b) * H, H).ToArray(), summary.Data.AsSpan(b * 2 * H, H).ToArray());
            Assert.Equal(h.AsSpan(((2 * L - 1) * B + b) * H, H).ToArray(), summary.Data.AsSpan(b * 2 * H + H, H).ToArray());
        }
    }

    [Fact]
    public void BidirectionalLastPassesGradientsToBothEnds()
    {
        var sequence = new Variable(new Tensor(2, 3, 4), requiresGrad: true);
        var tape = new Tape();
        var y = TimeSteps.BidirectionalLast(tape, sequence, [2, 3]);
        var seed = new Tensor(2, 4);
        for (int i = 0; i < seed.Length; i++) seed.Data[i] = i + 1;
        tape.Backward([(y, seed)]);
        var g = sequence.Grad.Data; // [b, t, f]
        Assert.Equal([1f, 2f, 0f, 0f], g.AsSpan((0 * 3 + 1) * 4, 4).ToArray()); // forward half at step 1 (length 2)
        Assert.Equal([0f, 0f, 3f, 4f], g.AsSpan((0 * 3 + 0) * 4, 4).ToArray()); // backward half at step 0
        Assert.Equal([5f, 6f, 0f, 0f], g.AsSpan((1 * 3 + 2) * 4, 4).ToArray());
        Assert.Equal([0f, 0f, 7f, 8f], g.AsSpan((1 * 3 + 0) * 4, 4).ToArray());
        Assert.Equal(2 * 3 * 4 - 8, g.Count(v => v == 0));
    }

    [Fact]
    public void DropoutBetweenLayersFollowsTheSeedAndIsOffAtInference()
    {
        const double p = 0.4;
        var options = new RecurrentStackOptions { Bidirectional = true, Dropout = p };
        var module = new Lstm("encoder", I, H, 3, random: new RecurRandom(43), options: options);
        var x = Random(new RecurRandom(44), B, T, I);
        float[] Run(RecurRandom? training) => module.Forward(Tape.Inference, new Variable(x), lengths: Lengths, training: training).Output.Value.Data;

        var first = Run(new RecurRandom(7));
        Assert.Equal(first, Run(new RecurRandom(7)));
        Assert.NotEqual(first, Run(new RecurRandom(8)));

        // The masks are DropoutKernel's, drawn in order layer 0, layer 1 from the training generator.
        var weights = module.Parameters.Chunk(4).Select(ps => new RecurrentLayerWeights<float>(4, ps[0].Value.Dim(1), H,
            ps[0].Value.Data, ps[1].Value.Data, ps[2].Value.Data, ps[3].Value.Data)).ToList();
        var draw = new RecurRandom(7);
        var masks = new List<float[]>();
        for (int l = 0; l < 2; l++)
        {
            var mask = new float[T * B * 2 * H];
            DropoutKernel<float>.Mask(p, draw, mask);
            Assert.Contains(mask, v => v == 0);
            Assert.Contains(mask, v => v == (float)(1 / (1 - p)));
            masks.Add(mask);
        }
        var kernel = DeepRecurrentKernel<float, LstmCell>.Forward(weights, 2, false, masks,
            Layout.SwapLeadingAxes<float>(x.Data, B, T, I), T, B, [], [], Lengths);
        Assert.Equal(Layout.SwapLeadingAxes<float>(kernel.Output, T, B, 2 * H), first);

        // Inference: no masks, the same as the module without dropout.
        var plain = new Lstm("encoder", I, H, 3, random: new RecurRandom(43), options: options with { Dropout = 0 });
        Assert.Equal(plain.Forward(Tape.Inference, new Variable(x), lengths: Lengths).Output.Value.Data, Run(null));
        Assert.NotEqual(first, Run(null));
    }

    [Fact]
    public void UnidirectionalWithoutResidualOrTrainingDropoutIsBitIdenticalToThePlainStack()
    {
        var x = Random(new RecurRandom(45), B, T, I);
        var plain = new Gru("encoder", I, H, L, random: new RecurRandom(46));
        var withDropout = new Gru("encoder", I, H, L, random: new RecurRandom(46), options: new RecurrentStackOptions { Dropout = 0.3 });
        var residualOneLayer = new Gru("encoder", I, H, 1, random: new RecurRandom(46), options: new RecurrentStackOptions { Residual = true });
        var plainOneLayer = new Gru("encoder", I, H, 1, random: new RecurRandom(46));
        Assert.Equal(plain.Forward(Tape.Inference, new Variable(x), lengths: Lengths).Output.Value.Data,
            withDropout.Forward(Tape.Inference, new Variable(x), lengths: Lengths).Output.Value.Data);
        Assert.Equal(plainOneLayer.Forward(Tape.Inference, new Variable(x)).Output.Value.Data,
            residualOneLayer.Forward(Tape.Inference, new Variable(x)).Output.Value.Data);

        // The composed kernel with one direction and no extras is the stack kernel, bit for bit.
        var h = RecurrentHarness<float, LstmCell>.Random(steps: 5, batch: 3, input: 4, hidden: 6, layers: 2, seed: 47);
        h.Lengths = [5, 2, 4];
        var stack = h.Forward();
        var deep = DeepRecurrentKernel<float, LstmCell>.Forward(h.Weights, 1, false, null, h.X, h.Steps, h.Batch, h.H0, h.C0, h.Lengths);
        Assert.Equal(stack.Output.ToArray(), deep.Output);
        Assert.Equal(stack.FinalHidden, deep.FinalHidden);
        Assert.Equal(stack.FinalCell, deep.FinalCell);
    }

    [Fact]
    public void ResidualAddsEachLaterLayersInputAndKeepsTheShapes()
    {
        var rng = new RecurRandom(48);
        var x = Random(rng, B, T, I);
        var residual = new Lstm("encoder", I, H, 2, random: new RecurRandom(49), options: new RecurrentStackOptions { Bidirectional = true, Residual = true });
        var plain = new Lstm("encoder", I, H, 2, random: new RecurRandom(49), options: new RecurrentStackOptions { Bidirectional = true });
        var first = new Lstm("encoder", I, H, 1, random: new RecurRandom(49), options: new RecurrentStackOptions { Bidirectional = true });
        var r = residual.Forward(Tape.Inference, new Variable(x), lengths: Lengths);
        Assert.Equal([B, T, 2 * H], r.Output.Value.Shape);
        Assert.Equal([4, B, H], r.HiddenState.Value.Shape);
        Assert.Equal([4, B, H], r.CellState!.Value.Shape);
        Assert.Equal(8 * 2, residual.Parameters.Count);
        Assert.Equal([4 * H, 2 * H], residual.Parameters.Single(p => p.Name == "encoder.weight_ih_l1_reverse").Value.Shape);
        // Layer 0 has no residual; layer 1's output is its recurrent output plus layer 0's output.
        var layer0 = first.Forward(Tape.Inference, new Variable(x), lengths: Lengths).Output.Value.Data;
        var withoutSkip = plain.Forward(Tape.Inference, new Variable(x), lengths: Lengths).Output.Value.Data;
        Assert.Equal(withoutSkip.Zip(layer0, (a, b) => a + b).ToArray(), r.Output.Value.Data);
        Assert.Contains("residual", residual.ToString());
        Assert.Contains("bidirectional", residual.ToString());
    }

    [Fact]
    public void StatesOfTheWrongLayoutAreRejected()
    {
        var lstm = new Lstm("encoder", I, H, L, options: new RecurrentStackOptions { Bidirectional = true });
        var ex = Assert.Throws<ArgumentException>(() => lstm.Forward(new Tape(), new Variable(new Tensor(B, T, I)), new Variable(new Tensor(L, B, H))));
        Assert.Contains($"[{2 * L}, {B}, {H}] (layers × directions, batch, hidden)", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Gru("encoder", I, H, L, options: new RecurrentStackOptions { Dropout = 1 }));
    }

    [Fact]
    public void ProbeReportsEveryLayerWithBothDirections()
    {
        var rng = new RecurRandom(50);
        var lstm = new Lstm("encoder", I, H, L, random: rng, options: new RecurrentStackOptions { Bidirectional = true }) { Probe = new GradientFlowProbe() };
        var tape = new Tape();
        var r = lstm.Forward(tape, new Variable(Random(rng, B, T, I), requiresGrad: true), lengths: Lengths);
        tape.Backward([(TimeSteps.BidirectionalLast(tape, r.Output, Lengths), Random(rng, B, 2 * H))]);
        Assert.Equal(L, lstm.Probe.StepGradientNorms.Length);
        Assert.All(lstm.Probe.StepGradientNorms, layer => { Assert.Equal(T, layer.Length); Assert.All(layer, v => Assert.True(double.IsFinite(v) && v >= 0)); });
        Assert.True(lstm.Probe.StepGradientNorms[^1][0] > 0);
        Assert.Equal(L, lstm.Probe.SaturatedFraction.Length);
        Assert.All(lstm.Probe.SaturatedFraction, v => Assert.InRange(v, 0, 1));
    }

    [Fact]
    public void ModelReadsBothEndsGroupsBothDirectionsAndKeepsTheOptionsInItsFile()
    {
        var spec = new SequenceModelSpec
        {
            Cell = CellKind.Gru, InputSize = 2, HiddenSize = 5, Layers = 2, OutputSize = 3,
            Bidirectional = true, LayerDropout = 0.25, Residual = true,
        };
        var model = new SequenceModel(spec, new RecurRandom(51));
        Assert.Equal(2, model.Encoder.Directions);
        var groups = model.ParameterGroups();
        Assert.Equal(["encoder layer 0", "encoder layer 1", "head"], groups.Select(g => g.Group));
        Assert.All(groups.Take(2), g => Assert.Equal(8, g.Parameters.Count));
        Assert.Contains(groups[1].Parameters, p => p.Name == "encoder.bias_hh_l1_reverse");
        Assert.Equal([3, 10], model.Parameters.Single(p => p.Name == "head.weight").Value.Shape);

        var values = Random(new RecurRandom(52), 3, 4, 2);
        var batch = new SequenceBatch(3, 4, values, null) { Lengths = [4, 1, 2] };
        var inference = model.Forward(Tape.Inference, batch, training: false, null).Value.Data;
        Assert.Equal([3 * 3], [inference.Length]);
        var trainingA = model.Forward(Tape.Inference, batch, training: true, new RecurRandom(9)).Value.Data;
        Assert.Equal(trainingA, model.Forward(Tape.Inference, batch, training: true, new RecurRandom(9)).Value.Data);
        Assert.NotEqual(inference, trainingA);

        var path = Path.Combine(Path.GetTempPath(), $"recur-bidir-{Guid.NewGuid():N}.safetensors");
        try
        {
            new ModelFile(model, new TrainConfig { Bidirectional = true, LayerDropout = 0.25, Residual = true }, "{}", "{}").Save(path);
            var loaded = ModelFile.Load(path);
            Assert.Equal(spec with { Initialization = null }, loaded.Model.Spec);
            Assert.Equal(inference, loaded.Model.Forward(Tape.Inference, batch, training: false, null).Value.Data);
            Assert.True(loaded.Config.Bidirectional);
            Assert.Equal(0.25, loaded.Config.LayerDropout);

            // A file from before these options: the keys are absent, the model is a plain stack.
            var plainSpec = spec with { Bidirectional = false, LayerDropout = 0, Residual = false };
            var plain = new SequenceModel(plainSpec, new RecurRandom(53));
            var content = new Dictionary<string, string>
            {
                ["recur.format"] = ModelFile.FormatVersion, ["recur.config"] = "{}", ["recur.data"] = "{}", ["recur.metrics"] = "{}",
                ["recur.model"] = """{"cell":"gru","input_size":"2","hidden_size":"5","layers":"2","dropout":"0","output_size":"3","vocabulary_size":"0","embedding_size":"32","per_step":"false"}""",
            };
            SafeTensors.Write(path, plain.StateDict(), content);
            Assert.Equal(plainSpec, ModelFile.Load(path).Model.Spec);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static float[] Column(Tensor state, int b)
    {
        int layers = state.Dim(0), batch = state.Dim(1), hidden = state.Dim(2);
        var column = new float[layers * hidden];
        for (int l = 0; l < layers; l++) state.Data.AsSpan((l * batch + b) * hidden, hidden).CopyTo(column.AsSpan(l * hidden));
        return column;
    }

    private static List<(Variable, Tensor)> Seeds(RecurrentOutput r, Tensor gOutput, Tensor gHidden, Tensor? gCell)
    {
        var seeds = new List<(Variable, Tensor)> { (r.Output, gOutput), (r.HiddenState, gHidden) };
        if (gCell is not null) seeds.Add((r.CellState!, gCell));
        return seeds;
    }

    private static void AssertClose(string what, IReadOnlyList<float> actual, IReadOnlyList<float> expected)
    {
        Assert.Equal(expected.Count, actual.Count);
        Assert.Contains(expected, v => v != 0);
        double error = GradientCheck.RelativeError(actual.ToArray(), expected.Select(v => (double)v).ToArray());
        Assert.True(error <= 1e-5, $"{what}: relative error {error:E2} exceeds 1e-5");
    }
}
