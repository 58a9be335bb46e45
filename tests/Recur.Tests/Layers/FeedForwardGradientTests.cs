using Recur.Layers;
using Recur.Randomness;

namespace Recur.Tests.Layers;

/// <summary>Dense, Embedding and Dropout kernels: double against finite differences, float against double.</summary>
public class FeedForwardGradientTests
{
    private static double[] Random(RecurRandom rng, int n) => Enumerable.Range(0, n).Select(_ => rng.Uniform(-1, 1)).ToArray();

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    [Fact]
    public void DenseGradientsMatchFiniteDifferences()
    {
        const int N = 5, I = 7, O = 3;
        var rng = new RecurRandom(21);
        double[] x = Random(rng, N * I), w = Random(rng, O * I), b = Random(rng, O), dy = Random(rng, N * O);
        double Loss()
        {
            var y = new double[N * O];
            DenseKernel<double>.Forward(N, I, O, x, w, b, y);
            return Dot(y, dy);
        }
        double[] dx = new double[x.Length], dw = new double[w.Length], db = new double[b.Length];
        DenseKernel<double>.Backward(N, I, O, x, w, dy, dx, dw, db);
        foreach (var (name, value, grad) in new[] { ("x", x, dx), ("weight", w, dw), ("bias", b, db) })
        {
            double error = GradientCheck.RelativeError(grad, GradientCheck.Numeric(Loss, value));
            Assert.True(error < 1e-8, $"Dense d/d{name}: relative error {error:E2}");
        }
    }

    [Fact]
    public void DenseFloatMatchesDouble()
    {
        const int N = 33, I = 70, O = 17;
        var rng = new RecurRandom(22);
        double[] x = Random(rng, N * I), w = Random(rng, O * I), b = Random(rng, O);
        var yd = new double[N * O];
        var yf = new float[N * O];
        DenseKernel<double>.Forward(N, I, O, x, w, b, yd);
        DenseKernel<float>.Forward(N, I, O, ToFloat(x), ToFloat(w), ToFloat(b), yf);
        RecurrentGradientTests.AssertClose("dense output", yf, yd, 1e-6);
    }

    [Fact]
    public void EmbeddingGradientMatchesFiniteDifferencesWithRepeatedIndices()
    {
        const int V = 6, E = 4;
        int[] indices = [3, 0, 3, 5, 3, 1];
        var rng = new RecurRandom(23);
        double[] w = Random(rng, V * E), dy = Random(rng, indices.Length * E);
        double Loss()
        {
            var y = new double[indices.Length * E];
            EmbeddingKernel<double>.Forward(indices, V, E, w, y);
            return Dot(y, dy);
        }
        var dw = new double[w.Length];
        EmbeddingKernel<double>.Backward(indices, E, dy, dw);
        double error = GradientCheck.RelativeError(dw, GradientCheck.Numeric(Loss, w));
        Assert.True(error < 1e-8, $"Embedding d/dweight: relative error {error:E2}");
        Assert.Equal(0, dw[2 * E]); // row 2 is never looked up
    }

    [Fact]
    public void EmbeddingRejectsOutOfRangeIndexNamingItsPosition()
    {
        var y = new double[2 * 3];
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => EmbeddingKernel<double>.Forward([1, 9], 4, 3, new double[12], y));
        Assert.Contains("position 1", ex.Message);
        Assert.Contains("[0, 4)", ex.Message);
    }

    [Fact]
    public void DropoutGradientMatchesFiniteDifferencesAndKeepsExpectation()
    {
        const int N = 4000;
        var rng = new RecurRandom(24);
        var mask = new double[N];
        DropoutKernel<double>.Mask(0.25, rng, mask);
        double dropped = mask.Count(m => m == 0) / (double)N;
        Assert.InRange(dropped, 0.22, 0.28);
        Assert.All(mask, m => Assert.True(m == 0 || Math.Abs(m - 1 / 0.75) < 1e-15));

        double[] x = Random(rng, 50), dy = Random(rng, 50);
        var m50 = mask[..50];
        double Loss()
        {
            var y = new double[50];
            DropoutKernel<double>.Forward(x, m50, y);
            return Dot(y, dy);
        }
        var dx = new double[50];
        DropoutKernel<double>.Backward(dy, m50, dx);
        Assert.True(GradientCheck.RelativeError(dx, GradientCheck.Numeric(Loss, x)) < 1e-8);
    }

    private static float[] ToFloat(double[] a) => a.Select(v => (float)v).ToArray();
}
