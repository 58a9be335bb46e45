using Recur.Initialization;
using Recur.Layers;
using Recur.Randomness;

namespace Recur.Tests.Layers;

public class InitializationTests
{
    [Theory]
    [InlineData(5, 5)]
    [InlineData(3, 8)]
    [InlineData(8, 3)]
    public void OrthogonalGivesOrthonormalRowsOrColumns(int rows, int cols)
    {
        var w = new float[rows * cols];
        Initializers.Orthogonal(w, rows, cols, new RecurRandom(3));
        bool byRows = rows <= cols;
        int n = Math.Min(rows, cols), m = Math.Max(rows, cols);
        double At(int v, int k) => byRows ? w[v * cols + k] : w[k * cols + v];
        for (int u = 0; u < n; u++)
            for (int v = 0; v < n; v++)
            {
                double dot = 0;
                for (int k = 0; k < m; k++) dot += At(u, k) * At(v, k);
                Assert.Equal(u == v ? 1.0 : 0.0, dot, 1e-5);
            }
    }

    [Fact]
    public void DefaultLstmInitialisationFollowsTheDocumentedScheme()
    {
        const int I = 6, H = 4;
        var lstm = new Lstm("", I, H, random: new RecurRandom(9));
        var wih = lstm.Parameters[0].Value.Data;
        var whh = lstm.Parameters[1].Value.Data;
        var bih = lstm.Parameters[2].Value.Data;
        var bhh = lstm.Parameters[3].Value.Data;
        double glorot = Math.Sqrt(6.0 / (I + 4 * H));
        Assert.All(wih, v => Assert.InRange(v, -glorot, glorot));
        Assert.True(wih.Max() > glorot * 0.5 && wih.Min() < -glorot * 0.5);
        // each gate's recurrent block is orthogonal: W_gᵀ·W_g = 1
        for (int g = 0; g < 4; g++)
            for (int a = 0; a < H; a++)
                for (int b = 0; b < H; b++)
                {
                    double dot = 0;
                    for (int r = 0; r < H; r++) dot += whh[(g * H + r) * H + a] * whh[(g * H + r) * H + b];
                    Assert.Equal(a == b ? 1.0 : 0.0, dot, 1e-5);
                }
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0], bih);
        Assert.All(bhh, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void PyTorchSchemeDrawsEveryTensorWithinOneOverRootH()
    {
        var gru = new Gru("", 3, 16, initialization: RecurrentInitialization.PyTorch, random: new RecurRandom(1));
        foreach (var p in gru.Parameters)
        {
            Assert.All(p.Value.Data, v => Assert.InRange(v, -0.25f, 0.25f));
            Assert.Contains(p.Value.Data, v => Math.Abs(v) > 0.1f);
        }
    }

    [Fact]
    public void SameSeedSameWeightsDifferentSeedDifferentWeights()
    {
        float[] Weights(ulong seed) => new Lstm("", 3, 7, 2, random: new RecurRandom(seed)).Parameters.SelectMany(p => p.Value.Data).ToArray();
        Assert.Equal(Weights(42), Weights(42));
        Assert.NotEqual(Weights(42), Weights(43));
    }
}
