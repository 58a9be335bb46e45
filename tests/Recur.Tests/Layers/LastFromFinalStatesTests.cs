using Recur.Autograd;
using Recur.Layers;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// A sequence model's head reads a unidirectional, non-residual stack's last real step from the top layer's final
/// hidden state (<see cref="TimeSteps.LastFromFinalStates"/>) instead of from the output sequence: the values, the
/// input's gradient and every parameter's gradient must be the bits of <see cref="TimeSteps.Last(Tape, Variable, int[])"/>
/// on the output, for every cell, with padding, between-layer dropout, input and recurrent dropout, zoneout, layer
/// norm and gradient checkpointing.
/// </summary>
public sealed class LastFromFinalStatesTests
{
    private const int B = 5, T = 9, I = 3, H = 7;

    public static TheoryData<CellKind, int, bool, bool, bool, int?> Cases()
    {
        var data = new TheoryData<CellKind, int, bool, bool, bool, int?>();
        foreach (var cell in new[] { CellKind.Lstm, CellKind.Gru, CellKind.Rnn })
            foreach (int layers in new[] { 1, 2 })
                foreach (bool padded in new[] { false, true })
                {
                    data.Add(cell, layers, padded, false, false, null);
                    data.Add(cell, layers, padded, true, false, null);
                    data.Add(cell, layers, padded, false, true, null);
                    data.Add(cell, layers, padded, true, false, 4);
                }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheFinalStateGivesTheLastStepsBitsAndGradients(CellKind cell, int layers, bool padded, bool regularized, bool layerNorm, int? checkpoint)
    {
        int[]? lengths = padded ? [T, 1, 4, T - 1, 6] : null;
        var (viaOutput, outputGrads) = Run(cell, layers, lengths, regularized, layerNorm, checkpoint, fromStates: false);
        var (viaStates, stateGrads) = Run(cell, layers, lengths, regularized, layerNorm, checkpoint, fromStates: true);
        Assert.Equal(Bits(viaOutput), Bits(viaStates));
        Assert.Equal(outputGrads.Count, stateGrads.Count);
        for (int i = 0; i < outputGrads.Count; i++)
            Assert.True(Bits(outputGrads[i].Grad).SequenceEqual(Bits(stateGrads[i].Grad)), $"d/d{outputGrads[i].Name} differs");
    }

    // The final states' gradients stay readable after the backward pass and go back to the workspace with the tape:
    // a head reading the final state gives them a gradient at every training step.
    [Fact]
    public void DisposingTheTapeGivesBackTheFinalStatesGradients()
    {
        var lstm = new Lstm("rnn", I, H, 2, random: new RecurRandom(2));
        var x = new Variable(new Tensor(B, T, I));
        var seed = new Tensor(B, H);
        seed.Data.AsSpan().Fill(1f);
        foreach (var p in lstm.Parameters) _ = p.Grad;
        var meter = new WorkspaceMeter();
        RecurrentOutput result;
        using (Workspace.Measure(meter))
        {
            var tape = new Tape();
            result = lstm.Forward(tape, x);
            tape.Backward([(TimeSteps.LastFromFinalStates(tape, result.HiddenState, 1, T, null), seed)]);
            Assert.True(result.HiddenState.HasGrad && result.HiddenState.Grad.Data.Skip(B * H).Any(v => v != 0));
            tape.Dispose();
        }
        Assert.False(result.HiddenState.HasGrad);
        Assert.False(result.CellState!.HasGrad);
        Assert.Equal(0, meter.Current);
    }

    [Fact]
    public void LengthsWithoutALastStepAreRejectedAsByLast()
    {
        var states = new Variable(new Tensor(1, 2, 3));
        var ex = Assert.Throws<ArgumentException>(() => TimeSteps.LastFromFinalStates(Tape.Inference, states, 0, 4, [2, 0]));
        Assert.Contains("lengths[1] is 0: that sequence has no last step", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => TimeSteps.LastFromFinalStates(Tape.Inference, states, 1, 4, null));
        Assert.Contains("layer 1", ex.Message);
    }

    private static (float[] Last, List<(string Name, float[] Grad)> Grads) Run(CellKind cell, int layers, int[]? lengths, bool regularized,
        bool layerNorm, int? checkpoint, bool fromStates)
    {
        var random = new RecurRandom(31);
        var stack = RecurrentLayers.Create(cell, "encoder", I, H, layers, null, random,
            new RecurrentStackOptions { Dropout = regularized ? 0.3 : 0 }, layerNorm);
        if (regularized) stack.Regularization = new RecurrentRegularization(InputDropout: 0.2, RecurrentDropout: 0.25, Zoneout: 0.15);
        stack.CheckpointTime = checkpoint;
        var x = new Tensor(B, T, I);
        for (int i = 0; i < x.Length; i++) x.Data[i] = (float)random.Normal();
        var input = new Variable(x, requiresGrad: true);
        var seed = new Tensor(B, H);
        for (int i = 0; i < seed.Length; i++) seed.Data[i] = (float)random.Normal();

        using var tape = new Tape();
        var encoded = stack.Forward(tape, input, lengths: lengths, training: regularized ? new RecurRandom(5) : null);
        var last = fromStates
            ? TimeSteps.LastFromFinalStates(tape, encoded.HiddenState, layers - 1, T, lengths)
            : TimeSteps.Last(tape, encoded.Output, lengths);
        var values = (float[])last.Value.Data.Clone();
        tape.Backward([(last, seed)]);
        var grads = stack.Parameters.Select(p => (p.Name, (float[])p.Grad.Data.Clone())).ToList();
        grads.Add(("input", (float[])input.Grad.Data.Clone()));
        return (values, grads);
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
}
