using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Tests.Tensors;

/// <summary>The vectorised float activations held to the scalar double reference, including saturation.</summary>
public class ElementwiseTests
{
    public static TheoryData<int> Lengths => new() { 1, 7, 16, 33, 1000 };

    private static (float[] f, double[] d) Inputs(int n)
    {
        var rng = new RecurRandom((ulong)n);
        var d = new double[n];
        for (int i = 0; i < n; i++) d[i] = (float)rng.Uniform(-12, 12);
        if (n > 3) (d[0], d[1], d[2]) = (0, 90, -90); // saturation must stay finite and exact at the limits
        return (d.Select(v => (float)v).ToArray(), d);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void SigmoidMatchesReference(int n)
    {
        var (f, d) = Inputs(n);
        Elementwise.Sigmoid<float>(f, f);
        ElementwiseReference.Sigmoid<double>(d, d);
        for (int i = 0; i < n; i++) Assert.True(Math.Abs(f[i] - d[i]) <= 2e-7 * Math.Max(1, Math.Abs(d[i])), $"sigmoid[{i}]: {f[i]} vs {d[i]}");
    }

    [Theory, MemberData(nameof(Lengths))]
    public void TanhMatchesReference(int n)
    {
        var (f, d) = Inputs(n);
        Elementwise.Tanh<float>(f, f);
        ElementwiseReference.Tanh<double>(d, d);
        for (int i = 0; i < n; i++) Assert.True(Math.Abs(f[i] - d[i]) <= 2e-7, $"tanh[{i}]: {f[i]} vs {d[i]}");
    }

    [Fact]
    public void MismatchedLengthsAreRejected() =>
        Assert.Throws<ArgumentException>(() => ElementwiseReference.Tanh<double>(new double[3], new double[2]));
}
