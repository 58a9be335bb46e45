using Recur.Autograd;
using Recur.Optimizers;
using Recur.Tensors;
using Xunit;

namespace Recur.Tests.Optimizers;

/// <summary>
/// Shared fixture for the update-rule tests: one parameter θ of 3 values and fixed gradients for steps 1–3. The
/// gradients change sign and size between steps so that momentum, second moments and AMSGrad's maximum all matter
/// (element 1's gradient drops from −1.5 to −0.2, so its second-moment average falls).
/// </summary>
internal static class OptimizerTestKit
{
    /// <summary>θ₀.</summary>
    public static double[] Theta0 => [1.0, -0.5, 0.25];

    /// <summary>∇θ at steps t = 1, 2, 3 (row t − 1).</summary>
    public static readonly double[][] Gradients =
    [
        [0.5, -1.5, 2.0],
        [-0.3, -0.2, 1.1],
        [0.9, 0.1, -2.5],
    ];

    public const double Tolerance = 1e-6;

    public static Parameter NewParameter(string name, params double[] values) =>
        new(name, new Tensor(values.Select(v => (float)v).ToArray(), values.Length));

    public static void SetGrad(Parameter p, double[] grad)
    {
        for (int i = 0; i < grad.Length; i++) p.Grad.Data[i] = (float)grad[i];
    }

    /// <summary>‖a − b‖ / ‖b‖ over the whole vector.</summary>
    public static double RelativeError(float[] actual, double[] expected)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            diff += (actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += expected[i] * expected[i];
        }
        return Math.Sqrt(diff) / Math.Sqrt(norm);
    }

    /// <summary>
    /// Runs three steps of the optimizer made by <paramref name="create"/> over θ₀ with <see cref="Gradients"/>
    /// and asserts θ after each step equals <paramref name="expected"/>[t − 1] within <see cref="Tolerance"/>.
    /// </summary>
    public static void AssertTrajectory(Func<Parameter, Optimizer> create, double[][] expected)
    {
        Parameter p = NewParameter("w", Theta0);
        Optimizer optimizer = create(p);
        for (int t = 1; t <= expected.Length; t++)
        {
            SetGrad(p, Gradients[t - 1]);
            optimizer.Step();
            double error = RelativeError(p.Value.Data, expected[t - 1]);
            Assert.True(error <= Tolerance,
                $"{optimizer} step {t}: θ = [{string.Join(", ", p.Value.Data)}], expected " +
                $"[{string.Join(", ", expected[t - 1])}], relative error {error:E2} > {Tolerance:E0}.");
            Assert.Equal(t, optimizer.StepCount);
        }
    }

    /// <summary>Asserts two hand-computed trajectories differ, so a variant's test really exercises the variant.</summary>
    public static void AssertDiffer(double[][] a, double[][] b)
    {
        double maxDiff = 0;
        for (int t = 0; t < a.Length; t++)
            for (int i = 0; i < a[t].Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(a[t][i] - b[t][i]));
        Assert.True(maxDiff > 1e-4, $"Variant trajectories differ by only {maxDiff:E2}; the fixture does not exercise it.");
    }
}
