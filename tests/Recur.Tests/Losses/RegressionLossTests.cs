using Recur.Losses;
using Xunit;

namespace Recur.Tests.Losses;

/// <summary>Hand-computed values for MSE, MAE and Huber, and their argument checks.</summary>
public class RegressionLossTests
{
    private static readonly double[] Prediction = [1, 2, 3];
    private static readonly double[] Target = [1, 0, 5]; // diffs 0, 2, −2

    [Fact]
    public void Mean_squared_error_of_a_small_example()
    {
        var gradient = new double[3];
        MeanSquaredError.Backward<double>(Prediction, Target, 1.0, gradient);

        Assert.Equal(8.0 / 3, MeanSquaredError.Forward<double>(Prediction, Target), 1e-15);
        Assert.Equal([0, 4.0 / 3, -4.0 / 3], gradient); // 2·diff / N
    }

    [Fact]
    public void Row_masked_mean_squared_error_is_the_mean_over_the_kept_rows_only()
    {
        double[] prediction = [1, 2, 9, 9, 3, 4], target = [0, 0, 0, 0, 1, 1]; // [3, 2]; row 1 masked
        double[] mask = [1, 0, 1];
        var gradient = new double[6];
        MeanSquaredError.Backward<double>(prediction, target, mask, 1.0, gradient);

        // Kept diffs 1, 2, 2, 3: (1 + 4 + 4 + 9) / 4.
        Assert.Equal(18.0 / 4, MeanSquaredError.Forward<double>(prediction, target, mask), 1e-15);
        Assert.Equal([0.5, 1, 0, 0, 1, 1.5], gradient); // 2·diff / 4 on kept rows, nothing on the masked one
        Assert.Equal(MeanSquaredError.Forward<double>([1, 2, 3, 4], [0, 0, 1, 1]), MeanSquaredError.Forward<double>(prediction, target, mask), 1e-15);
        Assert.Equal(0.0, MeanSquaredError.Forward<double>(prediction, target, [0.0, 0, 0])); // no row counts
        Assert.Throws<ArgumentException>(() => MeanSquaredError.Forward<double>(prediction, target, [1.0, 1, 1, 1]));
    }

    [Fact]
    public void Mean_absolute_error_takes_sign_of_zero_as_zero()
    {
        var gradient = new double[3];
        MeanAbsoluteError.Backward<double>(Prediction, Target, 1.0, gradient);

        Assert.Equal(4.0 / 3, MeanAbsoluteError.Forward<double>(Prediction, Target), 1e-15);
        Assert.Equal([0, 1.0 / 3, -1.0 / 3], gradient);
    }

    [Fact]
    public void Huber_is_quadratic_inside_delta_and_linear_outside()
    {
        double[] prediction = [0.5, -3], target = [0, 0];
        var gradient = new double[2];
        Huber.Backward<double>(prediction, target, 1.0, gradient);

        // ½·0.5² = 0.125 and 1·(3 − ½) = 2.5, mean 1.3125; gradient diff and −δ, over N = 2.
        Assert.Equal(1.3125, Huber.Forward<double>(prediction, target), 1e-15);
        Assert.Equal([0.25, -0.5], gradient);
    }

    [Fact]
    public void Huber_delta_scales_the_linear_part()
    {
        double[] prediction = [2], target = [0];

        Assert.Equal(0.5 * (2 - 0.25), Huber.Forward<double>(prediction, target, delta: 0.5), 1e-15);
    }

    [Fact]
    public void Empty_input_gives_zero_loss_and_no_gradient()
    {
        Assert.Equal(0.0, MeanSquaredError.Forward<double>([], []));
        MeanSquaredError.Backward<double>([], [], 1.0, []);
    }

    [Fact]
    public void Length_mismatch_names_the_target()
    {
        var error = Assert.Throws<ArgumentException>(() => MeanSquaredError.Forward<double>([1, 2], [1]));

        Assert.Equal("target", error.ParamName);
    }

    [Fact]
    public void Gradient_buffer_of_the_wrong_length_is_rejected()
    {
        var error = Assert.Throws<ArgumentException>(
            () => MeanAbsoluteError.Backward<double>([1, 2], [1, 2], 1.0, new double[3]));

        Assert.Equal("dPrediction", error.ParamName);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    public void Huber_rejects_a_non_positive_delta(double delta)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Huber.Forward<double>([1], [0], delta));

        Assert.Equal("delta", error.ParamName);
    }
}
