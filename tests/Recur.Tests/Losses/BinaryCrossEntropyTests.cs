using Recur.Losses;
using Xunit;

namespace Recur.Tests.Losses;

/// <summary>Hand-computed values, stability and argument checks for the two binary cross-entropies.</summary>
public class BinaryCrossEntropyTests
{
    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(0.3)]
    public void Logit_zero_gives_log_two_and_gradient_half_minus_target(double target)
    {
        var gradient = new double[2];
        double[] logits = [0, 0], targets = [target, target];

        double loss = BinaryCrossEntropyWithLogits.Forward<double>(logits, targets);
        BinaryCrossEntropyWithLogits.Backward<double>(logits, targets, 1.0, gradient);

        Assert.Equal(Math.Log(2), loss, 1e-15);
        Assert.All(gradient, g => Assert.Equal((0.5 - target) / 2, g, 1e-15));
    }

    [Fact]
    public void Pos_weight_scales_the_positive_term_per_column()
    {
        // logits [1, 2] at 0, targets 1: ℓ = pos_weight[c]·ln 2.
        double loss = BinaryCrossEntropyWithLogits.Forward<double>([0, 0], [1, 1], posWeight: [3, 1]);

        Assert.Equal((3 + 1) * Math.Log(2) / 2, loss, 1e-15);
    }

    [Fact]
    public void Huge_logits_give_finite_loss_and_gradient()
    {
        float[] logits = [1e4f, -1e4f, 1e4f, -1e4f];
        float[] targets = [0, 1, 1, 0];
        var gradient = new float[4];

        float loss = BinaryCrossEntropyWithLogits.Forward<float>(logits, targets, posWeight: [2f, 2f]);
        BinaryCrossEntropyWithLogits.Backward<float>(logits, targets, 1f, gradient, posWeight: [2f, 2f]);

        // Wrong with certainty: 10⁴, then 2·10⁴ (positive, weighted 2); right with certainty: 0.
        Assert.Equal((1e4f + 2e4f) / 4, loss, 1e-3f);
        Assert.Equal([0.25f, -0.5f, 0f, 0f], gradient);
    }

    [Fact]
    public void Probability_one_half_gives_log_two()
    {
        Assert.Equal(Math.Log(2), BinaryCrossEntropy.Forward<double>([0.5, 0.5], [1, 0]), 1e-15);
    }

    [Fact]
    public void Log_of_zero_probability_is_clamped_at_minus_100()
    {
        var gradient = new float[3];
        float[] prediction = [0f, 1f, 1f], target = [1f, 1f, 0f];

        float loss = BinaryCrossEntropy.Forward<float>(prediction, target);
        BinaryCrossEntropy.Backward<float>(prediction, target, 1f, gradient);

        Assert.Equal(200f / 3, loss, 1e-4f);
        Assert.All(gradient, g => Assert.True(float.IsFinite(g)));
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void Probability_outside_zero_one_is_rejected(double p)
    {
        var error = Assert.Throws<ArgumentException>(() => BinaryCrossEntropy.Forward<double>([0.5, p], [1, 1]));

        Assert.Equal("prediction", error.ParamName);
        Assert.Contains("prediction[1]", error.Message);
    }

    [Fact]
    public void Pos_weight_that_does_not_divide_the_logits_is_rejected()
    {
        var error = Assert.Throws<ArgumentException>(
            () => BinaryCrossEntropyWithLogits.Forward<double>(new double[6], new double[6], posWeight: [1, 1, 1, 1]));

        Assert.Equal("posWeight", error.ParamName);
    }

    [Fact]
    public void Target_length_mismatch_is_rejected()
    {
        var error = Assert.Throws<ArgumentException>(
            () => BinaryCrossEntropyWithLogits.Forward<double>(new double[3], new double[2]));

        Assert.Equal("target", error.ParamName);
    }
}
