using Recur.Losses;
using Xunit;

namespace Recur.Tests.Losses;

/// <summary>Hand-computed values, stability and argument checks for softmax cross-entropy.</summary>
public class SoftmaxCrossEntropyTests
{
    [Fact]
    public void Uniform_logits_give_log_of_the_class_count()
    {
        const int rows = 3, classes = 4;
        var logits = new double[rows * classes];
        Array.Fill(logits, 3.7);
        int[] targets = [0, 2, 3];
        var gradient = new double[rows * classes];

        double loss = SoftmaxCrossEntropy.Forward<double>(logits, targets, classes);
        SoftmaxCrossEntropy.Backward<double>(logits, targets, classes, 1.0, gradient);

        Assert.Equal(Math.Log(classes), loss, 1e-15);
        // (softmax − one-hot) / N = (1/4 − [c = t]) / 3
        for (int n = 0; n < rows; n++)
        for (int c = 0; c < classes; c++)
            Assert.Equal((0.25 - (c == targets[n] ? 1 : 0)) / rows, gradient[n * classes + c], 1e-15);
    }

    [Fact]
    public void Class_weights_divide_by_the_weights_of_the_counted_targets()
    {
        // Row 0: logits [0, ln 3], target 0 → softmax [¼, ¾], ℓ = ln 4. Row 1: [0, 0], target 1 → ℓ = ln 2.
        double[] logits = [0, Math.Log(3), 0, 0];
        double[] classWeights = [1, 3];

        double loss = SoftmaxCrossEntropy.Forward<double>(logits, [0, 1], 2, classWeights: classWeights);

        Assert.Equal((Math.Log(4) + 3 * Math.Log(2)) / (1 + 3), loss, 1e-15);
    }

    [Fact]
    public void Masked_rows_do_not_count_in_the_mean()
    {
        double[] logits = [0, Math.Log(3), 50, -50];
        double[] mask = [1, 0];

        double loss = SoftmaxCrossEntropy.Forward<double>(logits, [0, 1], 2, mask);
        var gradient = new double[4];
        SoftmaxCrossEntropy.Backward<double>(logits, [0, 1], 2, 1.0, gradient, mask);

        Assert.Equal(Math.Log(4), loss, 1e-15);
        Assert.Equal([0.25 - 1, 0.75, 0, 0], gradient);
    }

    [Fact]
    public void All_zero_mask_gives_zero_loss_and_zero_gradient()
    {
        double[] logits = [1, 2, 3, 4, 5, 6];
        int[] placeholderTargets = [-1, 99];
        double[] mask = [0, 0];
        var gradient = new double[6];

        double loss = SoftmaxCrossEntropy.Forward<double>(logits, placeholderTargets, 3, mask);
        SoftmaxCrossEntropy.Backward<double>(logits, placeholderTargets, 3, 1.0, gradient, mask);

        Assert.Equal(0.0, loss);
        Assert.All(gradient, g => Assert.Equal(0.0, g));
    }

    [Fact]
    public void Huge_logits_give_a_finite_loss_and_gradient_in_float()
    {
        float[] logits = [1e4f, -1e4f, 0f, -1e4f, 1e4f, 1e4f];
        int[] targets = [1, 0];
        var gradient = new float[6];

        float loss = SoftmaxCrossEntropy.Forward<float>(logits, targets, 3);
        SoftmaxCrossEntropy.Backward<float>(logits, targets, 3, 1f, gradient);

        // Row 0 misses by 2·10⁴; row 1 by 2·10⁴ + ln 2 (two classes tie at the max). Float spacing near 2·10⁴ is 2e-3.
        Assert.Equal((2e4 + 2e4 + Math.Log(2)) / 2, loss, 4e-3);
        Assert.All(gradient, g => Assert.True(float.IsFinite(g)));
        Assert.Equal(-0.5f, gradient[1], 1e-6f);
        Assert.Equal(0.5f, gradient[0], 1e-6f);
        Assert.Equal([-0.5f, 0.25f, 0.25f], gradient[3..]);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(-1)]
    public void Target_outside_the_classes_is_rejected_with_its_position(int badTarget)
    {
        var error = Assert.Throws<ArgumentException>(
            () => SoftmaxCrossEntropy.Forward<double>(new double[6], [0, badTarget], 3));

        Assert.Equal("targets", error.ParamName);
        Assert.Contains($"targets[1] = {badTarget}", error.Message);
        Assert.Contains("[0, 3)", error.Message);
    }

    [Fact]
    public void Logits_of_the_wrong_length_are_rejected()
    {
        var error = Assert.Throws<ArgumentException>(
            () => SoftmaxCrossEntropy.Forward<double>(new double[5], [0, 1], 3));

        Assert.Equal("logits", error.ParamName);
    }

    [Fact]
    public void Mask_and_class_weights_of_the_wrong_length_are_rejected()
    {
        var mask = Assert.Throws<ArgumentException>(
            () => SoftmaxCrossEntropy.Forward<double>(new double[6], [0, 1], 3, mask: [1, 1, 1]));
        var weights = Assert.Throws<ArgumentException>(
            () => SoftmaxCrossEntropy.Forward<double>(new double[6], [0, 1], 3, classWeights: [1, 1]));

        Assert.Equal("mask", mask.ParamName);
        Assert.Equal("classWeights", weights.ParamName);
    }

    [Fact]
    public void Negative_mask_weight_is_rejected()
    {
        var error = Assert.Throws<ArgumentException>(
            () => SoftmaxCrossEntropy.Forward<double>(new double[6], [0, 1], 3, mask: [1, -1]));

        Assert.Equal("mask", error.ParamName);
    }
}
