using System.Numerics;
using Recur.Layers.Recurrent;
using Recur.Tensors;
using Recur.Tests.Fixtures;

namespace Recur.Tests.Layers;

/// <summary>
/// Recurrent kernels against torch.nn.LSTM/GRU/RNN (fixture written in float64 by make_pytorch_parity.py):
/// outputs, final states and every gradient, in double (≤1e-10) and in float32 production (≤1e-5). The masked
/// fixture runs right-padded batches through pack_padded_sequence, against our per-sequence lengths.
/// </summary>
public class PyTorchParityTests
{
    internal const string Unmasked = "pytorch_parity.json", Masked = "pytorch_parity_masked.json";

    public static TheoryData<string> CaseNames() =>
        new(PyTorchFixture.Load(Unmasked).Cases.Select(c => c.Name));

    public static TheoryData<string> MaskedCaseNames() =>
        new(PyTorchFixture.Load(Masked).Cases.Select(c => c.Name));

    [Theory, MemberData(nameof(CaseNames))]
    public void DoubleKernelMatchesPyTorch(string caseName) => Check<double>(Unmasked, caseName, 1e-10);

    [Theory, MemberData(nameof(CaseNames))]
    public void FloatKernelMatchesPyTorch(string caseName) => Check<float>(Unmasked, caseName, 1e-5);

    [Theory, MemberData(nameof(MaskedCaseNames))]
    public void DoubleKernelMatchesPackedPyTorch(string caseName) => Check<double>(Masked, caseName, 1e-10);

    [Theory, MemberData(nameof(MaskedCaseNames))]
    public void FloatKernelMatchesPackedPyTorch(string caseName) => Check<float>(Masked, caseName, 1e-5);

    [Fact]
    public void MaskedFixtureIsReallyPadded()
    {
        foreach (var c in PyTorchFixture.Load(Masked).Cases)
        {
            Assert.Equal(c.Batch, c.Lengths.Length);
            Assert.Contains(c.Lengths, n => n < c.SeqLen);
            // PyTorch's padded outputs are exactly zero after each sequence's last real step.
            var output = c.Tensor("output").Data;
            for (int b = 0; b < c.Batch; b++)
                for (int i = (b * c.SeqLen + c.Lengths[b]) * c.HiddenSize; i < (b + 1) * c.SeqLen * c.HiddenSize; i++)
                    Assert.Equal(0.0, output[i]);
        }
    }

    private static void Check<T>(string file, string caseName, double tolerance) where T : struct, IFloatingPointIeee754<T>
    {
        var fixture = PyTorchFixture.Load(file).Case(caseName);
        switch (fixture.Cell)
        {
            case "lstm": Check<T, LstmCell>(fixture, tolerance); break;
            case "gru": Check<T, GruCell>(fixture, tolerance); break;
            case "rnn": Check<T, RnnCell>(fixture, tolerance); break;
            default: throw new InvalidOperationException($"Unknown cell '{fixture.Cell}' in fixture case {caseName}.");
        }
    }

    private static void Check<T, TCell>(FixtureCase f, double tolerance)
        where T : struct, IFloatingPointIeee754<T>
        where TCell : IRecurrentCell
    {
        int B = f.Batch, S = f.SeqLen, I = f.InputSize, H = f.HiddenSize, L = f.NumLayers;
        T[] Get(string name) => f.Tensor(name).Data.Select(T.CreateChecked).ToArray();
        T[] TimeMajor(string name, int features) => Layout.SwapLeadingAxes<T>(Get(name), B, S, features);
        T[] Optional(string name) => f.Has(name) ? Get(name) : [];

        var h = new RecurrentHarness<T, TCell>
        {
            Steps = S, Batch = B, Input = I, Hidden = H, Layers = L, Lengths = f.Lengths,
            X = TimeMajor("input", I), H0 = Get("h0"), C0 = Optional("c0"),
            DOutput = TimeMajor("grad_output", H), DhN = Get("grad_h_n"), DcN = Optional("grad_c_n"),
        };
        for (int l = 0; l < L; l++)
            h.Weights.Add(new RecurrentLayerWeights<T>(TCell.GateCount, l == 0 ? I : H, H,
                Get($"weight_ih_l{l}"), Get($"weight_hh_l{l}"), Get($"bias_ih_l{l}"), Get($"bias_hh_l{l}")));

        var forward = h.Forward();
        AssertMatches(f, "output", Layout.SwapLeadingAxes<T>(forward.Output.Span, S, B, H), tolerance);
        AssertMatches(f, "h_n", forward.FinalHidden, tolerance);
        if (TCell.HasCellState) AssertMatches(f, "c_n", forward.FinalCell, tolerance);
        Assert.Equal(f.Loss, double.CreateChecked(h.Loss()), tolerance * Math.Max(1, Math.Abs(f.Loss)));

        foreach (var (name, _, grad) in h.Named(h.Backward()))
        {
            var actual = name == "input" ? Layout.SwapLeadingAxes<T>(grad, S, B, I) : grad;
            AssertMatches(f, "grad." + name, actual, tolerance);
        }
    }

    private static void AssertMatches<T>(FixtureCase f, string name, T[] actual, double tolerance)
        where T : struct, IFloatingPointIeee754<T>
    {
        var expected = f.Tensor(name).Data;
        Assert.Equal(expected.Length, actual.Length);
        double error = GradientCheck.RelativeError(actual.Select(double.CreateChecked).ToArray(), expected);
        Assert.True(error <= tolerance, $"{f.Name} {name} ({typeof(T).Name}): relative error {error:E2} exceeds {tolerance:E0}");
    }
}
