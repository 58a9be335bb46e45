using Recur.Autograd;
using Recur.Layers;
using Recur.Tensors;

namespace Recur.Tests.Layers;

public class TimeStepsTests
{
    private static Tensor Sequence(int batch, int steps, int features)
    {
        var x = new Tensor(batch, steps, features);
        for (int i = 0; i < x.Length; i++) x.Data[i] = i + 1;
        return x;
    }

    [Fact]
    public void LastWithLengthsPicksEachSequencesLastRealStepAndRoutesItsGradient()
    {
        const int B = 3, T = 4, F = 2;
        int[] lengths = [4, 1, 3];
        var sequence = new Variable(Sequence(B, T, F), requiresGrad: true);
        var tape = new Tape();
        var last = TimeSteps.Last(tape, sequence, lengths);
        Assert.Equal([B, F], last.Shape);
        // [b, t, f] holds (b·T + t)·F + f + 1
        Assert.Equal([7f, 8f, 9f, 10f, 21f, 22f], last.Value.Data);

        tape.Backward([(last, new Tensor([1f, 2f, 3f, 4f, 5f, 6f], B, F))]);
        var expected = new float[B * T * F];
        for (int b = 0; b < B; b++)
            for (int f = 0; f < F; f++) expected[(b * T + lengths[b] - 1) * F + f] = 2 * b + f + 1;
        Assert.Equal(expected, sequence.Grad.Data);
    }

    [Fact]
    public void LastWithNullLengthsIsTheLastStep()
    {
        var sequence = new Variable(Sequence(2, 3, 2));
        Assert.Equal(TimeSteps.Last(Tape.Inference, sequence).Value.Data, TimeSteps.Last(Tape.Inference, sequence, null).Value.Data);
        Assert.Equal([5f, 6f, 11f, 12f], TimeSteps.Last(Tape.Inference, sequence, null).Value.Data);
    }

    [Theory]
    [InlineData(new[] { 2, 0 }, "lengths[1] is 0: that sequence has no last step")]
    [InlineData(new[] { 4, 1 }, "lengths[0] = 4 is outside 1 … 3")]
    [InlineData(new[] { 2 }, "one length per sequence (batch 2)")]
    public void LastRejectsLengthsWithoutALastStep(int[] lengths, string message)
    {
        var sequence = new Variable(Sequence(2, 3, 2));
        var ex = Assert.Throws<ArgumentException>(() => TimeSteps.Last(Tape.Inference, sequence, lengths));
        Assert.Contains(message, ex.Message);
    }
}
