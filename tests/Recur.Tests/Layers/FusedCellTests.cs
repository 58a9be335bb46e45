using Recur.Layers.Recurrent;
using Recur.Randomness;
using Recur.Tensors;
using Xunit.Abstractions;

namespace Recur.Tests.Layers;

/// <summary>
/// The fused float32 cell kernels (<see cref="FusedCells"/>) held to the cells' generic reference in double and in
/// float, on every instruction set this CPU runs, for odd shapes (H not a multiple of the vector width, B = 1).
/// </summary>
public class FusedCellTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Isas() =>
        new[] { GemmIsa.Avx512, GemmIsa.Avx2, GemmIsa.Portable }.Where(GemmSimd.IsSupported).Select(i => new object[] { i });

    private static readonly (int B, int H)[] Shapes = [(1, 1), (1, 17), (3, 5), (2, 16), (4, 33), (5, 64), (2, 100), (1, 257)];

    [Theory, MemberData(nameof(Isas))]
    internal void ActivationsAreAccurate(GemmIsa isa)
    {
        // Dense grid over [−20, 20] plus tiny values, against the double formulas.
        var x = new List<float>();
        for (int k = -200000; k <= 200000; k++) x.Add(k * 1e-4f);
        for (int e = -40; e < 0; e++) { x.Add(MathF.Pow(2, e)); x.Add(-MathF.Pow(2, e)); }
        x.AddRange([0f, 30f, -30f, 90f, -90f, 1e-20f]);
        var xs = x.ToArray();
        var y = new float[xs.Length];
        foreach (bool tanh in new[] { false, true })
        {
            FusedCells.Activate(isa, tanh, xs, y);
            double maxRel = 0, maxAbs = 0;
            for (int i = 0; i < xs.Length; i++)
            {
                double d = tanh ? Math.Tanh(xs[i]) : 1 / (1 + Math.Exp(-(double)xs[i]));
                double abs = Math.Abs(y[i] - d);
                maxAbs = Math.Max(maxAbs, abs);
                if (Math.Abs(d) > 1e-30) maxRel = Math.Max(maxRel, abs / Math.Abs(d)); // σ(−90) ≈ 8e−40 is below float's normal range
            }
            output.WriteLine($"{isa} {(tanh ? "tanh" : "sigmoid")}: max relative error {maxRel:E2}, max absolute {maxAbs:E2}");
            Assert.True(maxRel <= 1e-6, $"{isa} {(tanh ? "tanh" : "sigmoid")}: max relative error {maxRel:E2}");
            // σ's exponential form is within 1.5 ulp of 1 near saturation; tanh's rational form within 5 ulp (its
            // numerator's and denominator's roundings, measured 2.9e-7 here and over every float in [2^-30, 12]).
            Assert.True(maxAbs <= (tanh ? 3.5e-7 : 2e-7), $"{isa} {(tanh ? "tanh" : "sigmoid")}: max absolute error {maxAbs:E2}");
        }
    }

    private static double[] Random(RecurRandom rng, int n, double scale = 3) =>
        Enumerable.Range(0, n).Select(_ => (double)(float)rng.Uniform(-scale, scale)).ToArray();

    private static float[] F(double[] d) => d.Select(v => (float)v).ToArray();

    private static void Close(string what, float[] fast, double[] reference, float[] referenceFloat)
    {
        double toDouble = GradientCheck.RelativeError(fast, reference);
        double toFloat = GradientCheck.RelativeError(fast, referenceFloat.Select(v => (double)v).ToArray());
        Assert.True(toDouble <= 1e-6, $"{what}: relative error {toDouble:E2} to the double reference");
        Assert.True(toFloat <= 1e-6, $"{what}: relative error {toFloat:E2} to the float reference");
    }

    [Theory, MemberData(nameof(Isas))]
    internal void LstmMatchesReference(GemmIsa isa)
    {
        foreach (var (B, H) in Shapes)
        {
            var rng = new RecurRandom((ulong)(B * 1000 + H));
            double[] xg = Random(rng, B * 4 * H), hg = Random(rng, B * 4 * H), cp = Random(rng, B * H, 2);
            double[] dh = Random(rng, B * H, 1), dc = Random(rng, B * H, 1);
            // forward
            double[] sd = new double[B * 5 * H], hd = new double[B * H], cd = new double[B * H];
            LstmCell.ForwardReference<double>(B, H, xg, [], hg, new double[B * H], cp, sd, hd, cd);
            float[] sf = new float[B * 5 * H], hf = new float[B * H], cf = new float[B * H];
            LstmCell.ForwardReference<float>(B, H, F(xg), [], F(hg), new float[B * H], F(cp), sf, hf, cf);
            float[] s = new float[B * 5 * H], h = new float[B * H], c = new float[B * H];
            FusedCells.LstmForward(isa, 0, B, H, F(xg), [], F(hg), F(cp), s, h, c);
            Close($"LSTM B{B} H{H} saved", s, sd, sf);
            Close($"LSTM B{B} H{H} h", h, hd, hf);
            Close($"LSTM B{B} H{H} c", c, cd, cf);
            // backward from the same saved values (the fast kernel's, widened, for the references)
            double[] sw = s.Select(v => (double)v).ToArray();
            double[] dad = new double[B * 4 * H], dhpd = new double[B * H], dcpd = new double[B * H];
            LstmCell.BackwardReference<double>(B, H, sw, new double[B * H], cp, dh, dc, dad, dad, dhpd, dcpd);
            float[] daf = new float[B * 4 * H], dhpf = new float[B * H], dcpf = new float[B * H];
            LstmCell.BackwardReference<float>(B, H, s, new float[B * H], F(cp), F(dh), F(dc), daf, daf, dhpf, dcpf);
            float[] da = new float[B * 4 * H], dhp = Enumerable.Repeat(5f, B * H).ToArray(), dcp = new float[B * H];
            FusedCells.LstmBackward(isa, 0, B, H, s, F(cp), F(dh), F(dc), da, dhp, dcp);
            Close($"LSTM B{B} H{H} dGates", da, dad, daf);
            Close($"LSTM B{B} H{H} dcPrev", dcp, dcpd, dcpf);
            Assert.All(dhp, v => Assert.Equal(0f, v));
        }
    }

    [Theory, MemberData(nameof(Isas))]
    internal void GruMatchesReference(GemmIsa isa)
    {
        foreach (var (B, H) in Shapes)
        {
            var rng = new RecurRandom((ulong)(B * 1000 + H + 7));
            double[] xg = Random(rng, B * 3 * H), hg = Random(rng, B * 3 * H), hp = Random(rng, B * H, 1);
            double[] dh = Random(rng, B * H, 1);
            double[] sd = new double[B * 4 * H], hd = new double[B * H];
            GruCell.ForwardReference<double>(B, H, xg, [], hg, hp, [], sd, hd, []);
            float[] sf = new float[B * 4 * H], hf = new float[B * H];
            GruCell.ForwardReference<float>(B, H, F(xg), [], F(hg), F(hp), [], sf, hf, []);
            float[] s = new float[B * 4 * H], h = new float[B * H];
            FusedCells.GruForward(isa, 0, B, H, F(xg), [], F(hg), F(hp), s, h);
            Close($"GRU B{B} H{H} saved", s, sd, sf);
            Close($"GRU B{B} H{H} h", h, hd, hf);
            double[] sw = s.Select(v => (double)v).ToArray();
            double[] dxd = new double[B * 3 * H], dhgd = new double[B * 3 * H], dhpd = new double[B * H];
            GruCell.BackwardReference<double>(B, H, sw, hp, [], dh, [], dxd, dhgd, dhpd, []);
            float[] dxf = new float[B * 3 * H], dhgf = new float[B * 3 * H], dhpf = new float[B * H];
            GruCell.BackwardReference<float>(B, H, s, F(hp), [], F(dh), [], dxf, dhgf, dhpf, []);
            float[] dx = new float[B * 3 * H], dhg = new float[B * 3 * H], dhpr = new float[B * H];
            FusedCells.GruBackward(isa, 0, B, H, s, F(hp), F(dh), dx, dhg, dhpr);
            Close($"GRU B{B} H{H} dXGates", dx, dxd, dxf);
            Close($"GRU B{B} H{H} dHGates", dhg, dhgd, dhgf);
            Close($"GRU B{B} H{H} dhPrev", dhpr, dhpd, dhpf);
        }
    }

    [Theory, MemberData(nameof(Isas))]
    internal void RnnMatchesReference(GemmIsa isa)
    {
        foreach (var (B, H) in Shapes)
        {
            var rng = new RecurRandom((ulong)(B * 1000 + H + 11));
            double[] xg = Random(rng, B * H), hg = Random(rng, B * H), dh = Random(rng, B * H, 1);
            double[] sd = new double[B * H], hd = new double[B * H];
            RnnCell.ForwardReference<double>(B, H, xg, [], hg, new double[B * H], [], sd, hd, []);
            float[] sf = new float[B * H], hf = new float[B * H];
            RnnCell.ForwardReference<float>(B, H, F(xg), [], F(hg), new float[B * H], [], sf, hf, []);
            float[] s = new float[B * H], h = new float[B * H];
            FusedCells.RnnForward(isa, 0, B, H, F(xg), [], F(hg), s, h);
            Close($"RNN B{B} H{H} saved", s, sd, sf);
            Close($"RNN B{B} H{H} h", h, hd, hf);
            double[] sw = s.Select(v => (double)v).ToArray();
            double[] dad = new double[B * H], dhpd = new double[B * H];
            RnnCell.BackwardReference<double>(B, H, sw, [], [], dh, [], dad, dad, dhpd, []);
            float[] daf = new float[B * H], dhpf = new float[B * H];
            RnnCell.BackwardReference<float>(B, H, s, [], [], F(dh), [], daf, daf, dhpf, []);
            float[] da = new float[B * H], dhp = Enumerable.Repeat(1f, B * H).ToArray();
            FusedCells.RnnBackward(isa, 0, B, H, s, F(dh), da, dhp);
            Close($"RNN B{B} H{H} dGates", da, dad, daf);
            Assert.All(dhp, v => Assert.Equal(0f, v));
        }
    }

    [Theory, MemberData(nameof(Isas))]
    internal void RowRangesComputeOnlyTheirRows(GemmIsa isa)
    {
        // Splitting the batch into row ranges gives the same bits as one call over all rows.
        const int B = 7, H = 37;
        var rng = new RecurRandom(3);
        float[] xg = F(Random(rng, B * 4 * H)), hg = F(Random(rng, B * 4 * H)), cp = F(Random(rng, B * H));
        float[] s1 = new float[B * 5 * H], h1 = new float[B * H], c1 = new float[B * H];
        FusedCells.LstmForward(isa, 0, B, H, xg, [], hg, cp, s1, h1, c1);
        float[] s2 = new float[B * 5 * H], h2 = new float[B * H], c2 = new float[B * H];
        FusedCells.LstmForward(isa, 0, 3, H, xg, [], hg, cp, s2, h2, c2);
        Assert.All(h2.AsSpan(3 * H).ToArray(), v => Assert.Equal(0f, v));
        FusedCells.LstmForward(isa, 3, 4, H, xg, [], hg, cp, s2, h2, c2);
        Assert.Equal(s1, s2);
        Assert.Equal(h1, h2);
        Assert.Equal(c1, c2);
    }

    [Theory, MemberData(nameof(Isas))]
    internal void InputBiasGivesTheBitsOfBiasAddedBeforehand(GemmIsa isa)
    {
        // The layer hands b_ih to the cell instead of adding it to every step's xGates: (x·W + b) + h·W either way.
        foreach (var (B, H) in Shapes)
        {
            var rng = new RecurRandom((ulong)(B * 1000 + H + 13));
            foreach (int G in new[] { 4, 3, 1 })
            {
                float[] xg = F(Random(rng, B * G * H)), hg = F(Random(rng, B * G * H)), bias = F(Random(rng, G * H));
                float[] cp = F(Random(rng, B * H, 2)), hp = F(Random(rng, B * H, 1));
                float[] added = new float[B * G * H];
                for (int b = 0; b < B; b++)
                    for (int k = 0; k < G * H; k++) added[b * G * H + k] = xg[b * G * H + k] + bias[k];
                int S = G == 4 ? 5 : G == 3 ? 4 : 1; // saved values per unit
                float[] s1 = new float[B * S * H], h1 = new float[B * H], c1 = new float[B * H];
                float[] s2 = new float[B * S * H], h2 = new float[B * H], c2 = new float[B * H];
                float[] s3 = new float[B * S * H], h3 = new float[B * H], c3 = new float[B * H];
                switch (G)
                {
                    case 4:
                        FusedCells.LstmForward(isa, 0, B, H, xg, bias, hg, cp, s1, h1, c1);
                        FusedCells.LstmForward(isa, 0, B, H, added, [], hg, cp, s2, h2, c2);
                        LstmCell.ForwardReference<float>(B, H, xg, bias, hg, hp, cp, s3, h3, c3);
                        break;
                    case 3:
                        FusedCells.GruForward(isa, 0, B, H, xg, bias, hg, hp, s1, h1);
                        FusedCells.GruForward(isa, 0, B, H, added, [], hg, hp, s2, h2);
                        GruCell.ForwardReference<float>(B, H, xg, bias, hg, hp, [], s3, h3, []);
                        break;
                    default:
                        FusedCells.RnnForward(isa, 0, B, H, xg, bias, hg, s1, h1);
                        FusedCells.RnnForward(isa, 0, B, H, added, [], hg, s2, h2);
                        RnnCell.ForwardReference<float>(B, H, xg, bias, hg, hp, [], s3, h3, []);
                        break;
                }
                Assert.Equal(s2, s1);
                Assert.Equal(h2, h1);
                Assert.Equal(c2, c1);
                // the reference adds the bias the same way
                float[] s4 = new float[B * S * H], h4 = new float[B * H], c4 = new float[B * H];
                switch (G)
                {
                    case 4: LstmCell.ForwardReference<float>(B, H, added, [], hg, hp, cp, s4, h4, c4); break;
                    case 3: GruCell.ForwardReference<float>(B, H, added, [], hg, hp, [], s4, h4, []); break;
                    default: RnnCell.ForwardReference<float>(B, H, added, [], hg, hp, [], s4, h4, []); break;
                }
                Assert.Equal(s4, s3);
                Assert.Equal(h4, h3);
                Assert.True(GradientCheck.RelativeError(h1, h3.Select(v => (double)v).ToArray()) <= 1e-6, $"G{G} B{B} H{H}: fused h against the reference");
            }
        }
    }

    [Theory, MemberData(nameof(Isas))]
    internal void RecurrentBiasGivesTheBitsOfBiasAddedBeforehand(GemmIsa isa)
    {
        // The layer hands b_hh to the cell instead of copying it into hGates before the product accumulates onto it:
        // (x·W + b) + (h·W + b') either way, with both biases given to the cell as with both added beforehand.
        foreach (var (B, H) in Shapes)
        {
            var rng = new RecurRandom((ulong)(B * 1000 + H + 29));
            foreach (int G in new[] { 4, 3, 1 })
            {
                float[] xg = F(Random(rng, B * G * H)), hg = F(Random(rng, B * G * H));
                float[] xBias = F(Random(rng, G * H)), hBias = F(Random(rng, G * H));
                float[] cp = F(Random(rng, B * H, 2)), hp = F(Random(rng, B * H, 1));
                float[] xAdded = new float[B * G * H], hAdded = new float[B * G * H];
                for (int b = 0; b < B; b++)
                    for (int k = 0; k < G * H; k++)
                    {
                        xAdded[b * G * H + k] = xg[b * G * H + k] + xBias[k];
                        hAdded[b * G * H + k] = hg[b * G * H + k] + hBias[k];
                    }
                int S = G == 4 ? 5 : G == 3 ? 4 : 1;
                float[][] s = [.. Enumerable.Range(0, 4).Select(_ => new float[B * S * H])];
                float[][] h = [.. Enumerable.Range(0, 4).Select(_ => new float[B * H])];
                float[][] c = [.. Enumerable.Range(0, 4).Select(_ => new float[B * H])];
                switch (G)
                {
                    case 4:
                        FusedCells.LstmForward(isa, 0, B, H, xg, xBias, hg, cp, s[0], h[0], c[0], hBias);
                        FusedCells.LstmForward(isa, 0, B, H, xAdded, [], hAdded, cp, s[1], h[1], c[1]);
                        LstmCell.ForwardReference<float>(B, H, xg, xBias, hg, hp, cp, s[2], h[2], c[2], hBias);
                        LstmCell.ForwardReference<float>(B, H, xAdded, [], hAdded, hp, cp, s[3], h[3], c[3]);
                        break;
                    case 3:
                        FusedCells.GruForward(isa, 0, B, H, xg, xBias, hg, hp, s[0], h[0], hBias);
                        FusedCells.GruForward(isa, 0, B, H, xAdded, [], hAdded, hp, s[1], h[1]);
                        GruCell.ForwardReference<float>(B, H, xg, xBias, hg, hp, [], s[2], h[2], [], hBias);
                        GruCell.ForwardReference<float>(B, H, xAdded, [], hAdded, hp, [], s[3], h[3], []);
                        break;
                    default:
                        FusedCells.RnnForward(isa, 0, B, H, xg, xBias, hg, s[0], h[0], hBias);
                        FusedCells.RnnForward(isa, 0, B, H, xAdded, [], hAdded, s[1], h[1]);
                        RnnCell.ForwardReference<float>(B, H, xg, xBias, hg, hp, [], s[2], h[2], [], hBias);
                        RnnCell.ForwardReference<float>(B, H, xAdded, [], hAdded, hp, [], s[3], h[3], []);
                        break;
                }
                foreach (int pair in new[] { 0, 2 }) // fused, then reference: biases given = biases added
                {
                    Assert.Equal(s[pair + 1], s[pair]);
                    Assert.Equal(h[pair + 1], h[pair]);
                    Assert.Equal(c[pair + 1], c[pair]);
                }
            }
        }
    }

    /// <summary>
    /// The four-vector passes (lanes [0, wide) of each row, see FusedCellsInLockstep) give the one-vector loops' bits:
    /// H below, at and around multiples of four vectors, rows from an offset b0, with and without bias rows.
    /// </summary>
    [Theory, MemberData(nameof(Isas))]
    internal void FourVectorLanesGiveTheSameBits(GemmIsa isa)
    {
        foreach (var (B, H) in new[] { (2, 31), (1, 32), (3, 33), (2, 64), (4, 100), (1, 128), (3, 257) })
            foreach (bool biases in new[] { false, true })
            {
                var rng = new RecurRandom((ulong)(B * 1000 + H));
                float[] xg = F(Random(rng, B * 4 * H, 6)), hg = F(Random(rng, B * 4 * H, 6)), cp = F(Random(rng, B * H, 3));
                float[] xBias = biases ? F(Random(rng, 4 * H)) : [], hBias = biases ? F(Random(rng, 4 * H)) : [];
                int b0 = B > 1 ? 1 : 0, rows = B - b0;
                byte[][] Run(bool four, int gates)
                {
                    FusedCells.FourVectorLanes = four;
                    try
                    {
                        var h = Enumerable.Repeat(7f, B * H).ToArray();
                        if (gates == 4)
                        {
                            float[] saved = Enumerable.Repeat(7f, B * 5 * H).ToArray(), c = Enumerable.Repeat(7f, B * H).ToArray();
                            FusedCells.LstmForward(isa, b0, rows, H, xg, xBias, hg, cp, saved, h, c, hBias);
                            return [Bytes(saved), Bytes(h), Bytes(c)];
                        }
                        else
                        {
                            var saved = Enumerable.Repeat(7f, B * 4 * H).ToArray();
                            FusedCells.GruForward(isa, b0, rows, H, xg.AsSpan(0, B * 3 * H), biases ? xBias.AsSpan(0, 3 * H) : [],
                                hg.AsSpan(0, B * 3 * H), cp, saved, h, biases ? hBias.AsSpan(0, 3 * H) : default);
                            return [Bytes(saved), Bytes(h)];
                        }
                    }
                    finally { FusedCells.FourVectorLanes = true; }
                }
                foreach (int gates in new[] { 4, 3 })
                {
                    byte[][] one = Run(false, gates), four = Run(true, gates);
                    for (int k = 0; k < one.Length; k++)
                        Assert.True(one[k].AsSpan().SequenceEqual(four[k]), $"{isa} {(gates == 4 ? "LSTM" : "GRU")} B{B} H{H} biases {biases}: buffer {k} differs");
                }
            }
    }

    private static byte[] Bytes(float[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}
