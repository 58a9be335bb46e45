using Recur.Evaluation;
using Xunit;

namespace Recur.Tests.Evaluation;

public class MetricsTests
{
    private const double Tol = 1e-12;

    // predicted [2, 4, 6] vs actual [1, 4, 8]: errors +1, 0, −2.
    private static readonly double[] P = [2, 4, 6];
    private static readonly double[] A = [1, 4, 8];

    [Fact]
    public void Rmse_HandComputed() =>
        // √((1 + 0 + 4) / 3)
        Assert.Equal(Math.Sqrt(5.0 / 3.0), ForecastMetrics.Rmse(P, A), Tol);

    [Fact]
    public void Mae_HandComputed() =>
        // (1 + 0 + 2) / 3
        Assert.Equal(1.0, ForecastMetrics.Mae(P, A), Tol);

    [Fact]
    public void Mape_HandComputed() =>
        // 100 · (1/1 + 0/4 + 2/8) / 3 = 100 · 1.25 / 3
        Assert.Equal(125.0 / 3.0, ForecastMetrics.Mape(P, A), 1e-10);

    [Fact]
    public void Mape_SkipsZeroAndTinyActuals()
    {
        // the 0 is skipped: 100 · (1/2 + 1/4) / 2 = 37.5
        Assert.Equal(37.5, ForecastMetrics.Mape([1, 3, 3], [0, 2, 4]), 1e-10);
        // 1e-12 < 1e-8 · 100 is skipped: 100 · 10/100 = 10
        Assert.Equal(10.0, ForecastMetrics.Mape([1, 110], [1e-12, 100]), 1e-10);
        // every actual is 0
        Assert.True(double.IsNaN(ForecastMetrics.Mape([1, 2], [0, 0])));
    }

    [Fact]
    public void Mase_Season1_IsMaeOverNaiveInSampleMae()
    {
        // training 1, 3, 2, 5: |3−1| + |2−3| + |5−2| = 6 over 3 steps → scale 2
        // forecast 6, 7 vs 5, 8: MAE 1 → MASE 0.5
        Assert.Equal(0.5, ForecastMetrics.Mase([6, 7], [5, 8], [1, 3, 2, 5], season: 1), Tol);
    }

    [Fact]
    public void Mase_Season2_UsesSeasonalNaive()
    {
        // training 1, 3, 2, 5, 4: |2−1| + |5−3| + |4−2| = 5 over 3 steps → scale 5/3
        // MAE 1 → MASE 3/5
        Assert.Equal(0.6, ForecastMetrics.Mase([6, 7], [5, 8], [1, 3, 2, 5, 4], season: 2), Tol);
    }

    [Fact]
    public void Mase_ZeroScale_IsNaN() =>
        // 1, 2, 1, 2 repeats exactly with period 2
        Assert.True(double.IsNaN(ForecastMetrics.Mase([1], [2], [1, 2, 1, 2], season: 2)));

    [Fact]
    public void ForecastMetrics_RejectBadArguments()
    {
        Assert.Throws<ArgumentException>(() => ForecastMetrics.Rmse([1, 2], [1]));
        Assert.Throws<ArgumentException>(() => ForecastMetrics.Mae([1], [1, 2]));
        Assert.Throws<ArgumentException>(() => ForecastMetrics.Mape([1, 2, 3], [1]));
        Assert.Throws<ArgumentException>(() => ForecastMetrics.Mase([1], [1, 2], [1, 2, 3], 1));
        Assert.Throws<ArgumentException>(() => ForecastMetrics.Rmse([], []));
        Assert.Throws<ArgumentOutOfRangeException>(() => ForecastMetrics.Mase([1], [1], [1, 2, 3], 0));
        Assert.Throws<ArgumentException>(() => ForecastMetrics.Mase([1], [1], [1, 2], 2));
    }

    // actual    0 0 1 1 2 2
    // predicted 0 1 1 1 0 0      (class 2 is never predicted; class 3 occurs nowhere)
    private static readonly int[] Actual = [0, 0, 1, 1, 2, 2];
    private static readonly int[] Predicted = [0, 1, 1, 1, 0, 0];

    [Fact]
    public void Accuracy_HandComputed() =>
        // positions 0, 2, 3 are right
        Assert.Equal(0.5, ClassificationMetrics.Accuracy(Predicted, Actual), Tol);

    [Fact]
    public void ConfusionMatrix_RowsActualColumnsPredicted()
    {
        int[,] m = ClassificationMetrics.ConfusionMatrix(Predicted, Actual, 4);
        int[,] expected =
        {
            { 1, 1, 0, 0 },
            { 0, 2, 0, 0 },
            { 2, 0, 0, 0 },
            { 0, 0, 0, 0 },
        };
        Assert.Equal(expected, m);
    }

    [Fact]
    public void PerClass_HandComputed()
    {
        ClassScores[] s = ClassificationMetrics.PerClass(Predicted, Actual, 4);
        Assert.Equal(4, s.Length);
        // class 0: TP 1, predicted 3 times, present twice → P 1/3, R 1/2, F1 2·1/(2·1 + 2 + 1) = 2/5
        Assert.Equal(0, s[0].Class);
        Assert.Equal(1.0 / 3.0, s[0].Precision, Tol);
        Assert.Equal(0.5, s[0].Recall, Tol);
        Assert.Equal(0.4, s[0].F1, Tol);
        Assert.Equal(2, s[0].Support);
        // class 1: TP 2, predicted 3 times, present twice → P 2/3, R 1, F1 4/5
        Assert.Equal(2.0 / 3.0, s[1].Precision, Tol);
        Assert.Equal(1.0, s[1].Recall, Tol);
        Assert.Equal(0.8, s[1].F1, Tol);
        Assert.Equal(2, s[1].Support);
        // class 2: never predicted → precision 0 (zero_division=0), recall 0, F1 0
        Assert.Equal(new ClassScores(2, 0, 0, 0, 2), s[2]);
        // class 3: nowhere
        Assert.Equal(new ClassScores(3, 0, 0, 0, 0), s[3]);
    }

    [Fact]
    public void MacroF1_AveragesOverClassesPresentInEither()
    {
        // (2/5 + 4/5 + 0) / 3 = 0.4; class 3 is in neither and is left out (it would give 0.3)
        Assert.Equal(0.4, ClassificationMetrics.MacroF1(Predicted, Actual, 4), Tol);
        // class 1 is predicted but never actual: counted with F1 0.
        // class 0: TP 1, FN 1 → F1 2/3; macro (2/3 + 0) / 2 = 1/3
        Assert.Equal(1.0 / 3.0, ClassificationMetrics.MacroF1([0, 1], [0, 0], 2), Tol);
        Assert.Equal(1.0, ClassificationMetrics.MacroF1([2, 2], [2, 2], 5), Tol);
    }

    [Fact]
    public void ClassificationMetrics_RejectBadArguments()
    {
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Accuracy([0, 1], [0]));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Accuracy([], []));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassificationMetrics.ConfusionMatrix([0, 3], [0, 1], 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassificationMetrics.MacroF1([0, 1], [-1, 1], 2));
    }
}
