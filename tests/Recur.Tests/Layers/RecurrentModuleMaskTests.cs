using Recur.Autograd;
using Recur.Layers;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// Per-sequence lengths through the float modules and the tape: a padded batch equals each sequence run alone,
/// unpadded (outputs, final states and every gradient), as PyTorch's pack_padded_sequence.
/// </summary>
public class RecurrentModuleMaskTests
{
    private const int I = 3, H = 5, L = 2, B = 4, T = 7;
    private static readonly int[] Lengths = [7, 3, 5, 1];

    [Theory]
    [InlineData(CellKind.Lstm)]
    [InlineData(CellKind.Gru)]
    [InlineData(CellKind.Rnn)]
    public void PaddedBatchEqualsEachSequenceRunAlone(CellKind kind)
    {
        var rng = new RecurRandom(31);
        var module = RecurrentLayers.Create(kind, "encoder", I, H, L, random: rng);
        bool lstm = kind == CellKind.Lstm;
        Tensor Random(params int[] shape)
        {
            var t = new Tensor(shape);
            for (int i = 0; i < t.Length; i++) t.Data[i] = (float)rng.Uniform(-1, 1);
            return t;
        }
        var x = Random(B, T, I);
        var h0 = Random(L, B, H);
        var c0 = Random(L, B, H);
        // Upstream gradients on every step, padded ones included: those must be ignored.
        var gOutput = Random(B, T, H);
        var gHidden = Random(L, B, H);
        var gCell = Random(L, B, H);

        // The padded batch.
        var input = new Variable(x.Clone(), requiresGrad: true);
        var h0Var = new Variable(h0.Clone(), requiresGrad: true);
        var c0Var = lstm ? new Variable(c0.Clone(), requiresGrad: true) : null;
        var tape = new Tape();
        var padded = module.Forward(tape, input, h0Var, c0Var, Lengths);
        tape.Backward(Seeds(padded, gOutput, gHidden, lstm ? gCell : null));
        var paddedWeightGrads = module.Parameters.Select(p => p.Grad.Data.ToArray()).ToList();
        foreach (var p in module.Parameters) p.ZeroGrad();

        // Each sequence alone: batch 1, T = its length. Weight gradients add up over the runs.
        var (expOut, actOut, expH, actH, expC, actC) = (new List<float>(), new List<float>(), new List<float>(), new List<float>(), new List<float>(), new List<float>());
        var (expDx, actDx, expDh0, actDh0, expDc0, actDc0) = (new List<float>(), new List<float>(), new List<float>(), new List<float>(), new List<float>(), new List<float>());
        for (int b = 0; b < B; b++)
        {
            int n = Lengths[b];
            var xb = new Variable(new Tensor(x.Data.AsSpan(b * T * I, n * I).ToArray(), 1, n, I), requiresGrad: true);
            var h0b = new Variable(new Tensor(Column(h0, b), L, 1, H), requiresGrad: true);
            var c0b = lstm ? new Variable(new Tensor(Column(c0, b), L, 1, H), requiresGrad: true) : null;
            var alone = new Tape();
            var single = module.Forward(alone, xb, h0b, c0b);
            alone.Backward(Seeds(single,
                new Tensor(gOutput.Data.AsSpan(b * T * H, n * H).ToArray(), 1, n, H),
                new Tensor(Column(gHidden, b), L, 1, H),
                lstm ? new Tensor(Column(gCell, b), L, 1, H) : null));

            expOut.AddRange(single.Output.Value.Data);
            actOut.AddRange(padded.Output.Value.Data.AsSpan(b * T * H, n * H).ToArray());
            expH.AddRange(single.HiddenState.Value.Data);
            actH.AddRange(Column(padded.HiddenState.Value, b));
            expDx.AddRange(xb.Grad.Data);
            actDx.AddRange(input.Grad.Data.AsSpan(b * T * I, n * I).ToArray());
            expDh0.AddRange(h0b.Grad.Data);
            actDh0.AddRange(Column(h0Var.Grad, b));
            if (lstm)
            {
                expC.AddRange(single.CellState!.Value.Data);
                actC.AddRange(Column(padded.CellState!.Value, b));
                expDc0.AddRange(c0b!.Grad.Data);
                actDc0.AddRange(Column(c0Var!.Grad, b));
            }
            // Padded steps: output exactly zero, no gradient reaches the input there.
            Assert.All(padded.Output.Value.Data.AsSpan((b * T + n) * H, (T - n) * H).ToArray(), v => Assert.Equal(0f, v));
            Assert.All(input.Grad.Data.AsSpan((b * T + n) * I, (T - n) * I).ToArray(), v => Assert.Equal(0f, v));
        }

        AssertClose("output on real steps", actOut, expOut);
        AssertClose("h_n", actH, expH);
        AssertClose("grad input", actDx, expDx);
        AssertClose("grad h0", actDh0, expDh0);
        if (lstm)
        {
            AssertClose("c_n", actC, expC);
            AssertClose("grad c0", actDc0, expDc0);
        }
        for (int i = 0; i < module.Parameters.Count; i++)
            AssertClose("grad " + module.Parameters[i].Name, paddedWeightGrads[i], module.Parameters[i].Grad.Data);
    }

    [Fact]
    public void NoLengthsEmptyLengthsAndAllFullLengthsAreBitIdentical()
    {
        var rng = new RecurRandom(32);
        var module = new Lstm("encoder", I, H, L, random: rng);
        var x = new Tensor(B, T, I);
        for (int i = 0; i < x.Length; i++) x.Data[i] = (float)rng.Uniform(-1, 1);
        (float[] output, float[] hidden, float[] cell, float[] dx, float[][] dWeights) Run(int[]? lengths)
        {
            module.ZeroGrad();
            var input = new Variable(x.Clone(), requiresGrad: true);
            var tape = new Tape();
            var r = module.Forward(tape, input, lengths: lengths);
            tape.Backward(Seeds(r, Filled(r.Output.Value, 0.5f), Filled(r.HiddenState.Value, -0.25f), Filled(r.CellState!.Value, 0.75f)));
            return (r.Output.Value.Data, r.HiddenState.Value.Data, r.CellState.Value.Data, input.Grad.Data,
                module.Parameters.Select(p => p.Grad.Data.ToArray()).ToArray());
        }
        var plain = Run(null);
        foreach (var other in new[] { Run([]), Run([T, T, T, T]) })
        {
            Assert.Equal(plain.output, other.output);
            Assert.Equal(plain.hidden, other.hidden);
            Assert.Equal(plain.cell, other.cell);
            Assert.Equal(plain.dx, other.dx);
            for (int i = 0; i < plain.dWeights.Length; i++) Assert.Equal(plain.dWeights[i], other.dWeights[i]);
        }
    }

    [Theory]
    [InlineData(new[] { 7, 3, 5 }, "one length per sequence (batch 4)")]
    [InlineData(new[] { 7, 3, 8, 1 }, "lengths[2] = 8 is outside 0 … 7")]
    [InlineData(new[] { 7, -2, 5, 1 }, "lengths[1] = -2 is outside 0 … 7")]
    public void BadLengthsAreRejected(int[] lengths, string message)
    {
        var gru = new Gru("encoder", I, H, L);
        var ex = Assert.Throws<ArgumentException>(() => gru.Forward(new Tape(), new Variable(new Tensor(B, T, I)), lengths: lengths));
        Assert.Contains(message, ex.Message);
        Assert.Equal("lengths", ex.ParamName);
    }

    [Fact]
    public void ZeroLengthKeepsTheInitialStateAndProbeStillWorks()
    {
        var rng = new RecurRandom(33);
        var lstm = new Lstm("encoder", I, H, L, random: rng) { Probe = new GradientFlowProbe() };
        var x = new Tensor(B, T, I);
        for (int i = 0; i < x.Length; i++) x.Data[i] = (float)rng.Uniform(-1, 1);
        var h0 = new Tensor(L, B, H);
        var c0 = new Tensor(L, B, H);
        for (int i = 0; i < h0.Length; i++) (h0.Data[i], c0.Data[i]) = ((float)rng.Uniform(-1, 1), (float)rng.Uniform(-1, 1));
        var h0Var = new Variable(h0, requiresGrad: true);
        var c0Var = new Variable(c0, requiresGrad: true);
        var tape = new Tape();
        var r = lstm.Forward(tape, new Variable(x, requiresGrad: true), h0Var, c0Var, [T, 0, 2, 0]);
        for (int l = 0; l < L; l++)
            foreach (int b in new[] { 1, 3 })
            {
                Assert.Equal(Column(h0, b).AsSpan(l * H, H).ToArray(), Column(r.HiddenState.Value, b).AsSpan(l * H, H).ToArray());
                Assert.Equal(Column(c0, b).AsSpan(l * H, H).ToArray(), Column(r.CellState!.Value, b).AsSpan(l * H, H).ToArray());
            }
        var gHidden = Filled(r.HiddenState.Value, 1);
        tape.Backward(Seeds(r, Filled(r.Output.Value, 1), gHidden, Filled(r.CellState!.Value, 1)));
        // An empty sequence passes the final-state gradient straight back to its initial state.
        Assert.All(Column(h0Var.Grad, 1), v => Assert.Equal(1f, v));
        Assert.All(Column(c0Var.Grad, 3), v => Assert.Equal(1f, v));

        var probe = lstm.Probe;
        Assert.Equal(L, probe.StepGradientNorms.Length);
        Assert.All(probe.StepGradientNorms, layer => { Assert.Equal(T, layer.Length); Assert.All(layer, v => Assert.True(double.IsFinite(v) && v > 0)); });
        Assert.Equal(L, probe.SaturatedFraction.Length);
        Assert.All(probe.SaturatedFraction, v => Assert.InRange(v, 0, 1));
    }

    [Fact]
    public void LastRealStepOfTheOutputIsTheFinalHiddenState()
    {
        var rng = new RecurRandom(34);
        var gru = new Gru("encoder", I, H, L, random: rng);
        var x = new Tensor(B, T, I);
        for (int i = 0; i < x.Length; i++) x.Data[i] = (float)rng.Uniform(-1, 1);
        var r = gru.Forward(Tape.Inference, new Variable(x), lengths: Lengths);
        var last = TimeSteps.Last(Tape.Inference, r.Output, Lengths);
        Assert.Equal(r.HiddenState.Value.Data.AsSpan((L - 1) * B * H, B * H).ToArray(), last.Value.Data);
    }

    /// <summary>Sequence b of a state [L, B, H], as [L, 1, H] values.</summary>
    private static float[] Column(Tensor state, int b)
    {
        int layers = state.Dim(0), batch = state.Dim(1), hidden = state.Dim(2);
        var column = new float[layers * hidden];
        for (int l = 0; l < layers; l++) state.Data.AsSpan((l * batch + b) * hidden, hidden).CopyTo(column.AsSpan(l * hidden));
        return column;
    }

    private static Tensor Filled(Tensor like, float value)
    {
        var t = new Tensor(like.Shape);
        Array.Fill(t.Data, value);
        return t;
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
