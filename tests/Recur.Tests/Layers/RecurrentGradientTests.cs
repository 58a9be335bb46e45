using Recur.Layers.Recurrent;

namespace Recur.Tests.Layers;

/// <summary>
/// The double reference of every recurrent cell against central finite differences, and the float32 production
/// path against the double reference: 2 stacked layers, 6 steps, non-zero initial states.
/// </summary>
public class RecurrentGradientTests
{
    [Fact] public void LstmGradientsMatchFiniteDifferences() => CheckFiniteDifferences<LstmCell>();
    [Fact] public void GruGradientsMatchFiniteDifferences() => CheckFiniteDifferences<GruCell>();
    [Fact] public void RnnGradientsMatchFiniteDifferences() => CheckFiniteDifferences<RnnCell>();

    [Fact] public void LstmFloatMatchesDoubleReference() => CheckFloatAgainstDouble<LstmCell>();
    [Fact] public void GruFloatMatchesDoubleReference() => CheckFloatAgainstDouble<GruCell>();
    [Fact] public void RnnFloatMatchesDoubleReference() => CheckFloatAgainstDouble<RnnCell>();

    private static void CheckFiniteDifferences<TCell>() where TCell : IRecurrentCell
    {
        var h = RecurrentHarness<double, TCell>.Random(steps: 6, batch: 3, input: 4, hidden: 3, layers: 2, seed: 11);
        var analytic = h.Backward();
        foreach (var (name, value, grad) in h.Named(analytic))
        {
            var numeric = GradientCheck.Numeric(h.Loss, value);
            double error = GradientCheck.RelativeError(grad, numeric);
            Assert.True(error < 1e-7, $"{TCell.DisplayName} d/d{name}: relative error {error:E2} against finite differences");
            Assert.True(numeric.Any(v => Math.Abs(v) > 1e-6), $"{TCell.DisplayName} d/d{name} is all zero, so the check proves nothing");
        }
    }

    private static void CheckFloatAgainstDouble<TCell>() where TCell : IRecurrentCell
    {
        var reference = RecurrentHarness<double, TCell>.Random(steps: 9, batch: 5, input: 7, hidden: 19, layers: 2, seed: 12);
        var production = reference.Convert<float>();

        var rd = reference.Forward();
        var rf = production.Forward();
        AssertClose("output", rf.Output.ToArray(), rd.Output.ToArray(), 2e-6);
        AssertClose("h_n", rf.FinalHidden, rd.FinalHidden, 2e-6);
        if (TCell.HasCellState) AssertClose("c_n", rf.FinalCell, rd.FinalCell, 2e-6);

        var gd = reference.Named(reference.Backward()).ToList();
        var gf = production.Named(production.Backward()).ToList();
        for (int i = 0; i < gd.Count; i++) AssertClose("grad " + gd[i].name, gf[i].grad, gd[i].grad, 1e-5);
    }

    internal static void AssertClose(string what, float[] actual, double[] expected, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        double error = GradientCheck.RelativeError(actual.Select(v => (double)v).ToArray(), expected);
        Assert.True(error <= tolerance, $"{what}: relative error {error:E2} exceeds {tolerance:E0}");
    }
}
