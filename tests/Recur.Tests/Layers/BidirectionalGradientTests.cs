using System.Numerics;
using Recur.Autograd;
using Recur.Layers;
using Recur.Layers.Recurrent;
using Recur.Tensors;
using Recur.Tests.Fixtures;
using Xunit.Abstractions;

namespace Recur.Tests.Layers;

/// <summary>
/// Bidirectional stacks (<see cref="DeepRecurrentKernel{T, TCell}"/>): the double instantiation against central
/// finite differences (2 layers, right-padded batches with a 1-step sequence, non-zero h0/c0, residual and dropout
/// between layers), the float one against the double one, and the float module against torch.nn.LSTM/GRU/RNN with
/// <c>bidirectional=True</c> on packed sequences (pytorch_parity_bidirectional.json).
/// </summary>
public class BidirectionalGradientTests(ITestOutputHelper output)
{
    internal const string Fixture = "pytorch_parity_bidirectional.json";
    private static readonly int[] Lengths = [6, 1, 4];

    [Fact] public void LstmBidirectionalGradientsMatchFiniteDifferences() => CheckFiniteDifferences<LstmCell>(residual: false, dropout: 0);
    [Fact] public void GruBidirectionalGradientsMatchFiniteDifferences() => CheckFiniteDifferences<GruCell>(residual: false, dropout: 0);
    [Fact] public void RnnBidirectionalGradientsMatchFiniteDifferences() => CheckFiniteDifferences<RnnCell>(residual: false, dropout: 0);
    [Fact] public void LstmBidirectionalResidualGradientsMatchFiniteDifferences() => CheckFiniteDifferences<LstmCell>(residual: true, dropout: 0);
    [Fact] public void GruBidirectionalResidualGradientsMatchFiniteDifferences() => CheckFiniteDifferences<GruCell>(residual: true, dropout: 0);
    [Fact] public void RnnBidirectionalResidualGradientsMatchFiniteDifferences() => CheckFiniteDifferences<RnnCell>(residual: true, dropout: 0);
    [Fact] public void LstmBidirectionalResidualDropoutGradientsMatchFiniteDifferences() => CheckFiniteDifferences<LstmCell>(residual: true, dropout: 0.3, layers: 3);
    [Fact] public void GruUnidirectionalResidualDropoutGradientsMatchFiniteDifferences() => CheckFiniteDifferences<GruCell>(residual: true, dropout: 0.3, layers: 3, directions: 1);

    [Fact] public void LstmBidirectionalFloatMatchesDoubleReference() => CheckFloatAgainstDouble<LstmCell>();
    [Fact] public void GruBidirectionalFloatMatchesDoubleReference() => CheckFloatAgainstDouble<GruCell>();

    private static void CheckFiniteDifferences<TCell>(bool residual, double dropout, int layers = 2, int directions = 2) where TCell : IRecurrentCell
    {
        var h = DeepRecurrentHarness<double, TCell>.Random(steps: 6, batch: 3, input: 4, hidden: 3, layers: layers, seed: 21,
            directions: directions, residual: residual, lengths: Lengths, dropout: dropout);
        var analytic = h.Backward();
        foreach (var (name, value, grad) in h.Named(analytic))
        {
            var numeric = GradientCheck.Numeric(h.Loss, value);
            double error = GradientCheck.RelativeError(grad, numeric);
            Assert.True(error < 1e-7, $"{TCell.DisplayName} d/d{name}: relative error {error:E2} against finite differences");
            Assert.True(numeric.Any(v => Math.Abs(v) > 1e-6), $"{TCell.DisplayName} d/d{name} is all zero, so the check proves nothing");
        }
        // Padded steps: no gradient reaches the input there, in either direction.
        for (int b = 0; b < h.Batch; b++)
            for (int t = Lengths[b]; t < h.Steps; t++)
                Assert.All(analytic.dx.AsSpan((t * h.Batch + b) * h.Input, h.Input).ToArray(), v => Assert.Equal(0.0, v));
    }

    private static void CheckFloatAgainstDouble<TCell>() where TCell : IRecurrentCell
    {
        var reference = DeepRecurrentHarness<double, TCell>.Random(steps: 9, batch: 5, input: 7, hidden: 11, layers: 3, seed: 22,
            residual: true, lengths: [9, 3, 7, 1, 8], dropout: 0.2);
        var production = new DeepRecurrentHarness<float, TCell>
        {
            Steps = reference.Steps, Batch = reference.Batch, Input = reference.Input, Hidden = reference.Hidden, Layers = reference.Layers,
            Directions = reference.Directions, Residual = reference.Residual, Lengths = reference.Lengths,
            X = F(reference.X), H0 = F(reference.H0), C0 = F(reference.C0), DOutput = F(reference.DOutput), DhN = F(reference.DhN), DcN = F(reference.DcN),
            Masks = reference.Masks!.Select(F).ToList(),
            Weights = reference.Weights.Select(w => new RecurrentLayerWeights<float>(w.GateCount, w.InputSize, w.HiddenSize,
                F(w.InputWeights), F(w.RecurrentWeights), F(w.InputBias), F(w.RecurrentBias))).ToList(),
        };
        var rd = reference.Forward();
        var rf = production.Forward();
        RecurrentGradientTests.AssertClose("output", rf.Output, rd.Output, 2e-6);
        RecurrentGradientTests.AssertClose("h_n", rf.FinalHidden, rd.FinalHidden, 2e-6);
        var gd = reference.Named(reference.Backward()).ToList();
        var gf = production.Named(production.Backward()).ToList();
        for (int i = 0; i < gd.Count; i++) RecurrentGradientTests.AssertClose("grad " + gd[i].name, gf[i].grad, gd[i].grad, 1e-5);
    }

    private static float[] F(double[] a) => a.Select(v => (float)v).ToArray();

    public static TheoryData<string> CaseNames() => new(PyTorchFixture.Load(Fixture).Cases.Select(c => c.Name));

    [Theory, MemberData(nameof(CaseNames))]
    public void DoubleKernelMatchesBidirectionalPyTorch(string caseName)
    {
        var f = PyTorchFixture.Load(Fixture).Case(caseName);
        switch (f.Cell)
        {
            case "lstm": CheckKernel<double, LstmCell>(f, 1e-10); break;
            case "gru": CheckKernel<double, GruCell>(f, 1e-10); break;
            default: CheckKernel<double, RnnCell>(f, 1e-10); break;
        }
    }

    private void CheckKernel<T, TCell>(FixtureCase f, double tolerance)
        where T : struct, IFloatingPointIeee754<T>
        where TCell : IRecurrentCell
    {
        int B = f.Batch, S = f.SeqLen, I = f.InputSize, H = f.HiddenSize, L = f.NumLayers;
        T[] Get(string name) => f.Tensor(name).Data.Select(T.CreateChecked).ToArray();
        T[] Optional(string name) => f.Has(name) ? Get(name) : [];
        var h = new DeepRecurrentHarness<T, TCell>
        {
            Steps = S, Batch = B, Input = I, Hidden = H, Layers = L, Directions = 2, Lengths = f.Lengths,
            X = Layout.SwapLeadingAxes<T>(Get("input"), B, S, I), H0 = Get("h0"), C0 = Optional("c0"),
            DOutput = Layout.SwapLeadingAxes<T>(Get("grad_output"), B, S, 2 * H), DhN = Get("grad_h_n"), DcN = Optional("grad_c_n"),
        };
        for (int l = 0; l < L; l++)
            foreach (var suffix in new[] { $"_l{l}", $"_l{l}_reverse" })
                h.Weights.Add(new RecurrentLayerWeights<T>(TCell.GateCount, l == 0 ? I : 2 * H, H,
                    Get("weight_ih" + suffix), Get("weight_hh" + suffix), Get("bias_ih" + suffix), Get("bias_hh" + suffix)));
        var forward = h.Forward();
        Report(f, "output", Layout.SwapLeadingAxes<T>(forward.Output, S, B, 2 * H), tolerance);
        Report(f, "h_n", forward.FinalHidden, tolerance);
        if (TCell.HasCellState) Report(f, "c_n", forward.FinalCell, tolerance);
        foreach (var (name, _, grad) in h.Named(h.Backward()))
            Report(f, "grad." + name, name == "input" ? Layout.SwapLeadingAxes<T>(grad, S, B, I) : grad, tolerance);
    }

    /// <summary>The float module through the tape, loaded by parameter name, as a user meets it.</summary>
    [Theory, MemberData(nameof(CaseNames))]
    public void FloatModuleMatchesBidirectionalPyTorch(string caseName)
    {
        var f = PyTorchFixture.Load(Fixture).Case(caseName);
        Tensor Get(string name) => new(f.Tensor(name).ToFloat(), f.Tensor(name).Shape);
        var kind = RecurrentLayers.ParseCell(f.Cell);
        var module = RecurrentLayers.Create(kind, "encoder", f.InputSize, f.HiddenSize, f.NumLayers,
            options: new RecurrentStackOptions { Bidirectional = true });
        Assert.Equal(f.TensorNames.Where(n => n.StartsWith("weight_") || n.StartsWith("bias_")).Select(n => "encoder." + n),
            module.Parameters.Select(p => p.Name));
        foreach (var p in module.Parameters) Get(p.Name["encoder.".Length..]).Data.CopyTo(p.Value.Data, 0);

        var tape = new Tape();
        var input = new Variable(Get("input"), requiresGrad: true);
        var h0 = new Variable(Get("h0"), requiresGrad: true);
        var c0 = f.Cell == "lstm" ? new Variable(Get("c0"), requiresGrad: true) : null;
        var result = module.Forward(tape, input, h0, c0, f.Lengths);
        Report(f, "output", result.Output.Value.Data, 1e-5);
        Report(f, "h_n", result.HiddenState.Value.Data, 1e-5);
        if (c0 is not null) Report(f, "c_n", result.CellState!.Value.Data, 1e-5);

        var seeds = new List<(Variable, Tensor)> { (result.Output, Get("grad_output")), (result.HiddenState, Get("grad_h_n")) };
        if (c0 is not null) seeds.Add((result.CellState!, Get("grad_c_n")));
        tape.Backward(seeds);
        Report(f, "grad.input", input.Grad.Data, 1e-5);
        Report(f, "grad.h0", h0.Grad.Data, 1e-5);
        if (c0 is not null) Report(f, "grad.c0", c0.Grad.Data, 1e-5);
        foreach (var p in module.Parameters) Report(f, "grad." + p.Name["encoder.".Length..], p.Grad.Data, 1e-5);
    }

    [Fact]
    public void BidirectionalFixtureIsReallyPaddedAndBidirectional()
    {
        foreach (var c in PyTorchFixture.Load(Fixture).Cases)
        {
            Assert.Contains(c.Lengths, n => n < c.SeqLen);
            Assert.Equal([2 * c.NumLayers, c.Batch, c.HiddenSize], c.Tensor("h_n").Shape);
            Assert.Equal([c.Batch, c.SeqLen, 2 * c.HiddenSize], c.Tensor("output").Shape);
            Assert.True(c.Has("weight_ih_l1_reverse"));
        }
    }

    private void Report<T>(FixtureCase f, string name, T[] actual, double tolerance) where T : struct, IFloatingPointIeee754<T>
    {
        var expected = f.Tensor(name).Data;
        Assert.Equal(expected.Length, actual.Length);
        double error = GradientCheck.RelativeError(actual.Select(double.CreateChecked).ToArray(), expected);
        output.WriteLine($"{f.Name} {name} ({typeof(T).Name}): {error:E2}");
        Assert.True(error <= tolerance, $"{f.Name} {name} ({typeof(T).Name}): relative error {error:E2} exceeds {tolerance:E0}");
    }
}
