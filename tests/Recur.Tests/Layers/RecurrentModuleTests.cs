using Recur.Autograd;
using Recur.Layers;
using Recur.Randomness;
using Recur.Tensors;
using Recur.Tests.Fixtures;

namespace Recur.Tests.Layers;

/// <summary>
/// The float modules as a user meets them: PyTorch state dictionaries load by name, batch-first input, the tape
/// carries gradients to inputs, initial states and every parameter.
/// </summary>
public class RecurrentModuleTests
{
    [Theory]
    [InlineData("pytorch_parity.json", "lstm_2layer")]
    [InlineData("pytorch_parity.json", "gru_2layer")]
    [InlineData("pytorch_parity.json", "rnn_tanh_1layer")]
    [InlineData("pytorch_parity.json", "lstm_2layer_i4_h8_b1")]
    [InlineData("pytorch_parity_masked.json", "lstm_2layer_packed")]
    [InlineData("pytorch_parity_masked.json", "gru_2layer_packed")]
    [InlineData("pytorch_parity_masked.json", "rnn_tanh_2layer_packed")]
    public void ModuleThroughTapeMatchesPyTorch(string file, string caseName)
    {
        var f = PyTorchFixture.Load(file).Case(caseName);
        Tensor Get(string name) => new(f.Tensor(name).ToFloat(), f.Tensor(name).Shape);
        RecurrentModuleFor(f.Cell, "encoder", f.InputSize, f.HiddenSize, f.NumLayers, out var module, out var forward);
        var state = f.TensorNames.Where(n => n.StartsWith("weight_") || n.StartsWith("bias_"))
            .ToDictionary(n => "encoder." + n, Get);
        module.LoadStateDict(state);

        var tape = new Tape();
        var input = new Variable(Get("input"), requiresGrad: true);
        var h0 = new Variable(Get("h0"), requiresGrad: true);
        var c0 = f.Cell == "lstm" ? new Variable(Get("c0"), requiresGrad: true) : null;
        var result = forward(tape, input, h0, c0, f.Lengths.Length == 0 ? null : f.Lengths);

        AssertMatches(f, "output", result.Output.Value);
        AssertMatches(f, "h_n", result.HiddenState.Value);
        if (c0 is not null) AssertMatches(f, "c_n", result.CellState!.Value);

        var seeds = new List<(Variable, Tensor)> { (result.Output, Get("grad_output")), (result.HiddenState, Get("grad_h_n")) };
        if (c0 is not null) seeds.Add((result.CellState!, Get("grad_c_n")));
        tape.Backward(seeds);

        AssertMatches(f, "grad.input", input.Grad);
        AssertMatches(f, "grad.h0", h0.Grad);
        if (c0 is not null) AssertMatches(f, "grad.c0", c0.Grad);
        foreach (var p in module.Parameters)
            AssertMatches(f, "grad." + p.Name["encoder.".Length..], p.Grad);
    }

    [Fact]
    public void ParameterNamesAndShapesFollowPyTorch()
    {
        var lstm = new Lstm("encoder", inputSize: 3, hiddenSize: 5, numLayers: 2);
        Assert.Equal(
            ["encoder.weight_ih_l0", "encoder.weight_hh_l0", "encoder.bias_ih_l0", "encoder.bias_hh_l0",
             "encoder.weight_ih_l1", "encoder.weight_hh_l1", "encoder.bias_ih_l1", "encoder.bias_hh_l1"],
            lstm.Parameters.Select(p => p.Name));
        Assert.Equal([20, 3], lstm.Parameters[0].Value.Shape);
        Assert.Equal([20, 5], lstm.Parameters[4].Value.Shape);
        Assert.Equal([15, 5], new Gru("", 5, 5).Parameters[1].Value.Shape);
        Assert.Equal("weight_ih_l0", new SimpleRnn("", 2, 4).Parameters[0].Name);
        Assert.Equal("LSTM(3 => 5, layers: 2)", lstm.ToString());
    }

    [Fact]
    public void LoadStateDictRejectsWrongShapeAndMissingNames()
    {
        var gru = new Gru("rnn", 3, 4);
        var state = gru.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        state["rnn.weight_hh_l0"] = new Tensor(12, 5);
        var ex = Assert.Throws<ArgumentException>(() => gru.LoadStateDict(state));
        Assert.Contains("rnn.weight_hh_l0", ex.Message);
        Assert.Contains("[12, 4]", ex.Message);
        state.Remove("rnn.weight_hh_l0");
        Assert.Contains("no tensor 'rnn.weight_hh_l0'", Assert.Throws<ArgumentException>(() => gru.LoadStateDict(state)).Message);
    }

    [Fact]
    public void WrongInputShapeIsRejectedWithExpectedAndFound()
    {
        var lstm = new Lstm("", 3, 5);
        var ex = Assert.Throws<ArgumentException>(() => lstm.Forward(new Tape(), new Variable(new Tensor(2, 4, 7))));
        Assert.Contains("[batch, time, 3]", ex.Message);
        Assert.Contains("[2, 4, 7]", ex.Message);
        var h0 = new Variable(new Tensor(2, 2, 5));
        Assert.Contains("h0 [1, 2, 5]", Assert.Throws<ArgumentException>(() => lstm.Forward(new Tape(), new Variable(new Tensor(2, 4, 3)), h0)).Message);
    }

    [Fact]
    public void LastTimeStepFeedsDenseHeadAndGradientsReachTheRightStep()
    {
        var rng = new RecurRandom(5);
        var gru = new Gru("encoder", 2, 3, random: rng);
        var head = new Dense("head", 3, 1, random: rng);
        var x = new Tensor(4, 6, 2);
        for (int i = 0; i < x.Length; i++) x.Data[i] = (float)rng.Uniform(-1, 1);
        var input = new Variable(x, requiresGrad: true);
        var tape = new Tape();
        var sequence = gru.Forward(tape, input).Output;
        var last = TimeSteps.Last(tape, sequence);
        var y = head.Forward(tape, last);
        Assert.Equal([4, 1], y.Shape);
        // The last output equals the final hidden state of the (single) layer.
        Assert.Equal(gru.Forward(Tape.Inference, input).HiddenState.Value.Data, last.Value.Data);
        tape.Backward([(y, new Tensor([1f, 1f, 1f, 1f], 4, 1))]);
        Assert.Contains(head.Parameters[0].Grad.Data, v => v != 0);
        Assert.Contains(input.Grad.Data, v => v != 0);
    }

    internal static void RecurrentModuleFor(string cell, string name, int input, int hidden, int layers,
        out Module module, out Func<Tape, Variable, Variable?, Variable?, int[]?, RecurrentOutput> forward)
    {
        switch (cell)
        {
            case "lstm": { var m = new Lstm(name, input, hidden, layers); module = m; forward = (t, x, h, c, l) => m.Forward(t, x, h, c, l); break; }
            case "gru": { var m = new Gru(name, input, hidden, layers); module = m; forward = (t, x, h, c, l) => m.Forward(t, x, h, c, l); break; }
            case "rnn": { var m = new SimpleRnn(name, input, hidden, layers); module = m; forward = (t, x, h, c, l) => m.Forward(t, x, h, c, l); break; }
            default: throw new ArgumentException($"Unknown cell {cell}.");
        }
    }

    private static void AssertMatches(FixtureCase f, string name, Tensor actual)
    {
        var expected = f.Tensor(name);
        Assert.Equal(expected.Shape, actual.Shape);
        double error = GradientCheck.RelativeError(actual.Data.Select(v => (double)v).ToArray(), expected.Data);
        Assert.True(error <= 1e-5, $"{f.Name} {name}: relative error {error:E2} exceeds 1e-5");
    }
}
