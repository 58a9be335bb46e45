using Recur.Layers.Recurrent;
using Recur.Randomness;
using Recur.Tensors;
using Xunit.Abstractions;

namespace Recur.Tests.Layers;

/// <summary>
/// The fused float32 layer-norm, layer-normalised LSTM and zoneout kernels (<see cref="FusedCells"/>) held to their
/// generic references in double and in float, on every instruction set this CPU runs, for odd shapes (rows of a
/// length that is not a multiple of the vector width, a single row, several rows).
/// </summary>
/// <remarks>
/// Tolerance: 2e-6 relative (‖a − b‖/‖b‖ over the tensor). Each value goes through a few roundings (float ε = 6e-8)
/// plus the row sums' reassociation (lanes first, then the tail), whose error grows like √N·ε for random data — about
/// 2e-6 at N = 1024 in the worst case (measured: at most 6e-7, printed per tensor). Zoneout is element-wise with the
/// reference's own operations, so it must equal the float reference to the bit.
/// </remarks>
public class FusedNormCellTests(ITestOutputHelper output)
{
    private const double Tolerance = 2e-6;

    public static IEnumerable<object[]> Isas() => FusedCellTests.Isas();

    // (rows, row length): a single unit, lengths below/around/above the vector widths, B = 1 and several rows.
    private static readonly (int Rows, int N)[] LayerNormShapes = [(1, 1), (1, 17), (3, 5), (2, 16), (4, 33), (5, 64), (2, 100), (1, 257), (3, 1024)];
    private static readonly (int B, int H)[] CellShapes = [(1, 1), (1, 17), (3, 5), (2, 16), (4, 33), (5, 64), (2, 100), (1, 257)];

    private static double[] Random(RecurRandom rng, int n, double scale = 3, double offset = 0) =>
        Enumerable.Range(0, n).Select(_ => (double)(float)(offset + rng.Uniform(-scale, scale))).ToArray();

    private static float[] F(double[] d) => d.Select(v => (float)v).ToArray();

    private static double[] D(float[] f) => f.Select(v => (double)v).ToArray();

    /// <summary>
    /// ‖fast − reference‖ / ‖reference‖ against both references; with <paramref name="termsNorm"/>, the norm of the
    /// terms a sum was made of divides instead when larger (a sum that cancels keeps the terms' absolute error).
    /// </summary>
    private void Close(string what, float[] fast, double[] reference, float[] referenceFloat, double termsNorm = 0)
    {
        double Error(double[] expected)
        {
            double difference = 0, norm = 0;
            for (int i = 0; i < expected.Length; i++) (difference, norm) = (difference + Math.Pow(fast[i] - expected[i], 2), norm + expected[i] * expected[i]);
            return termsNorm > Math.Sqrt(norm) ? Math.Sqrt(difference) / termsNorm : GradientCheck.RelativeError(fast, expected);
        }
        double toDouble = Error(reference), toFloat = Error(D(referenceFloat));
        output.WriteLine($"{what}: {toDouble:E2} to double, {toFloat:E2} to float");
        Assert.True(toDouble <= Tolerance, $"{what}: relative error {toDouble:E2} to the double reference");
        Assert.True(toFloat <= Tolerance, $"{what}: relative error {toFloat:E2} to the float reference");
    }

    [Theory, MemberData(nameof(Isas))]
    internal void LayerNormMatchesReference(GemmIsa isa)
    {
        foreach (var (R, N) in LayerNormShapes)
            foreach (bool withAddBias in new[] { false, true })
            {
                string name = $"{isa} LN R{R} N{N}{(withAddBias ? " +bias" : "")}";
                var rng = new RecurRandom((ulong)(R * 10000 + N * 2 + (withAddBias ? 1 : 0)));
                // An offset mean, so the centring matters.
                double[] x = Random(rng, R * N, 2, offset: 1.5), gain = Random(rng, N, 1, offset: 1), bias = Random(rng, N, 1);
                double[] addBias = withAddBias ? Random(rng, N, 1) : [];
                double[] yd = new double[R * N], nd = new double[R * N], rd = new double[R];
                RowLayerNorm<double>.ForwardReference(R, N, x, gain, bias, addBias, yd, nd, rd);
                float[] yf = new float[R * N], nf = new float[R * N], rf = new float[R];
                RowLayerNorm<float>.ForwardReference(R, N, F(x), F(gain), F(bias), F(addBias), yf, nf, rf);
                float[] y = new float[R * N], norm = new float[R * N], rstd = new float[R];
                FusedCells.LayerNormForward(isa, 0, R, N, F(x), F(gain), F(bias), F(addBias), y, norm, rstd);
                Close($"{name} y", y, yd, yf);
                Close($"{name} normalized", norm, nd, nf);
                Close($"{name} rstd", rstd, rd, rf);

                // In place (x and y the same array), as the layer runs it on the gate pre-activations.
                float[] inPlace = F(x), n2 = new float[R * N], r2 = new float[R];
                FusedCells.LayerNormForward(isa, 0, R, N, inPlace, F(gain), F(bias), F(addBias), inPlace, n2, r2);
                Assert.Equal(y, inPlace);

                // Backward from the fast forward's saved values; the gain/bias gradients start non-zero (they add).
                double[] dy = Random(rng, R * N, 1), dGain0 = Random(rng, N, 1), dBias0 = Random(rng, N, 1);
                double[] dxd = new double[R * N], dgd = (double[])dGain0.Clone(), dbd = (double[])dBias0.Clone();
                RowLayerNorm<double>.BackwardReference(R, N, dy, D(norm), D(rstd), gain, dxd, dgd, dbd);
                float[] dxf = new float[R * N], dgf = F(dGain0), dbf = F(dBias0);
                RowLayerNorm<float>.BackwardReference(R, N, F(dy), norm, rstd, F(gain), dxf, dgf, dbf);
                float[] dx = new float[R * N], dg = F(dGain0), db = F(dBias0);
                FusedCells.LayerNormBackward(isa, 0, R, N, F(dy), norm, rstd, F(gain), dx, dg, db);
                Close($"{name} dx", dx, dxd, dxf);
                Close($"{name} dGain", dg, dgd, dgf);
                Close($"{name} dBias", db, dbd, dbf);
            }
    }

    [Theory, MemberData(nameof(Isas))]
    internal void LstmLayerNormMatchesReference(GemmIsa isa)
    {
        foreach (var (B, H) in CellShapes)
        {
            string name = $"{isa} LN-LSTM B{B} H{H}";
            var rng = new RecurRandom((ulong)(B * 1000 + H + 13));
            double[] xg = Random(rng, B * 4 * H), hg = Random(rng, B * 4 * H), cp = Random(rng, B * H, 2);
            double[] gain = Random(rng, H, 0.5, offset: 1), bias = Random(rng, H, 0.5);
            // forward
            double[] sd = new double[B * 5 * H], hd = new double[B * H], cd = new double[B * H], nd = new double[B * H], rd = new double[B];
            LstmCell.ForwardLayerNormReference<double>(B, H, xg, hg, cp, sd, hd, cd, gain, bias, nd, rd);
            float[] sf = new float[B * 5 * H], hf = new float[B * H], cf = new float[B * H], nf = new float[B * H], rf = new float[B];
            LstmCell.ForwardLayerNormReference<float>(B, H, F(xg), F(hg), F(cp), sf, hf, cf, F(gain), F(bias), nf, rf);
            float[] s = new float[B * 5 * H], h = new float[B * H], c = new float[B * H], norm = new float[B * H], rstd = new float[B];
            FusedCells.LstmLayerNormForward(isa, 0, B, H, F(xg), F(hg), F(cp), s, h, c, F(gain), F(bias), norm, rstd);
            Close($"{name} saved", s, sd, sf);
            Close($"{name} h", h, hd, hf);
            // c = f ⊙ c_prev + i ⊙ g can cancel (a single unit at H = 1): its error is relative to the terms.
            double terms = Math.Sqrt(Enumerable.Range(0, B * H).Sum(k =>
            {
                int b = k / H, j = k % H;
                double i = sd[b * 5 * H + j], f = sd[b * 5 * H + H + j], g = sd[b * 5 * H + 2 * H + j];
                return Math.Pow(Math.Abs(f * cp[k]) + Math.Abs(i * g), 2);
            }));
            Close($"{name} c", c, cd, cf, terms);
            Close($"{name} normalized", norm, nd, nf);
            Close($"{name} rstd", rstd, rd, rf);

            // backward from the fast forward's saved values, with and without padded rows
            foreach (bool padded in new[] { false, true })
            {
                int step = 2;
                int[] lengths = padded ? Enumerable.Range(0, B).Select(b => b % 2 == 0 ? step + 1 : step).ToArray() : [];
                double[] dh = Random(rng, B * H, 1), dc = Random(rng, B * H, 1), dGain0 = Random(rng, H, 1), dBias0 = Random(rng, H, 1);
                const double sentinel = 7; // rows a padded step skips keep what the caller had there
                double[] dad = Filled(B * 4 * H, sentinel), dhpd = new double[B * H], dcpd = Filled(B * H, sentinel);
                double[] dgd = (double[])dGain0.Clone(), dbd = (double[])dBias0.Clone();
                LstmCell.BackwardLayerNormReference<double>(B, H, D(s), cp, dh, dc, D(norm), D(rstd), gain, dad, dhpd, dcpd, dgd, dbd, lengths, step);
                float[] daf = F(Filled(B * 4 * H, sentinel)), dhpf = new float[B * H], dcpf = F(Filled(B * H, sentinel)), dgf = F(dGain0), dbf = F(dBias0);
                LstmCell.BackwardLayerNormReference<float>(B, H, s, F(cp), F(dh), F(dc), norm, rstd, F(gain), daf, dhpf, dcpf, dgf, dbf, lengths, step);
                float[] da = F(Filled(B * 4 * H, sentinel)), dhp = F(Filled(B * H, 5)), dcp = F(Filled(B * H, sentinel)), dg = F(dGain0), db = F(dBias0);
                FusedCells.LstmLayerNormBackward(isa, 0, B, H, s, F(cp), F(dh), F(dc), norm, rstd, F(gain), da, dhp, dcp, dg, db, lengths, step);
                string what = $"{name}{(padded ? " padded" : "")}";
                Close($"{what} dGates", da, dad, daf);
                Close($"{what} dcPrev", dcp, dcpd, dcpf);
                Close($"{what} dGain", dg, dgd, dgf);
                Close($"{what} dBias", db, dbd, dbf);
                Assert.All(dhp, v => Assert.Equal(0f, v));
                for (int b = 0; b < lengths.Length; b++)
                    if (step >= lengths[b])
                    {
                        Assert.All(da.AsSpan(b * 4 * H, 4 * H).ToArray(), v => Assert.Equal((float)sentinel, v));
                        Assert.All(dcp.AsSpan(b * H, H).ToArray(), v => Assert.Equal((float)sentinel, v));
                    }
            }
        }
    }

    private static double[] Filled(int n, double value) => Enumerable.Repeat(value, n).ToArray();

    [Theory, MemberData(nameof(Isas))]
    internal void ZoneoutEqualsFloatReference(GemmIsa isa)
    {
        foreach (int n in new[] { 1, 5, 17, 64, 100, 257 })
        {
            var rng = new RecurRandom((ulong)n + 21);
            float[] prev = F(Random(rng, n)), next = F(Random(rng, n)), d = F(Random(rng, n)), into = F(Random(rng, n));
            float[] mask = Enumerable.Range(0, n).Select(_ => rng.NextDouble() < 0.3 ? 1f : 0f).ToArray();
            foreach (var (zeta, scalar) in new[] { (mask, 0f), (Array.Empty<float>(), 0.1f) })
            {
                string name = $"{isa} zoneout N{n} {(zeta.Length == 0 ? "scalar" : "mask")}";
                float[] expected = (float[])next.Clone(), actual = (float[])next.Clone();
                ZoneoutKernel<float>.MixReference(expected, prev, zeta, scalar);
                FusedCells.ZoneoutMix(isa, actual, prev, zeta, scalar);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"{name} mix");

                ZoneoutKernel<float>.UpdateGradientReference(d, zeta, scalar, expected);
                FusedCells.ZoneoutUpdateGradient(isa, d, zeta, scalar, actual);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"{name} update gradient");

                expected = (float[])into.Clone();
                actual = (float[])into.Clone();
                ZoneoutKernel<float>.AddKeptGradientReference(d, zeta, scalar, expected);
                FusedCells.ZoneoutAddKeptGradient(isa, d, zeta, scalar, actual);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"{name} add kept gradient");
            }
            // A unit whose mask is 1 keeps its previous state exactly; 0 takes the update exactly.
            float[] mixed = (float[])next.Clone();
            FusedCells.ZoneoutMix(isa, mixed, prev, mask, 0);
            for (int i = 0; i < n; i++) Assert.Equal(mask[i] == 1 ? prev[i] : next[i], mixed[i]);
        }
    }

    [Theory, MemberData(nameof(Isas))]
    internal void RowRangesComputeOnlyTheirRows(GemmIsa isa)
    {
        // Splitting the rows into ranges gives the same bits as one call over all rows (forward and backward; the
        // gain/bias gradients accumulate row after row either way).
        const int B = 7, H = 37, N = 4 * H;
        var rng = new RecurRandom(5);
        float[] x = F(Random(rng, B * N)), gain = F(Random(rng, N, 1, 1)), bias = F(Random(rng, N, 1)), dy = F(Random(rng, B * N));
        float[] y1 = new float[B * N], n1 = new float[B * N], r1 = new float[B], y2 = new float[B * N], n2 = new float[B * N], r2 = new float[B];
        FusedCells.LayerNormForward(isa, 0, B, N, x, gain, bias, bias, y1, n1, r1);
        FusedCells.LayerNormForward(isa, 0, 3, N, x, gain, bias, bias, y2, n2, r2);
        FusedCells.LayerNormForward(isa, 3, 4, N, x, gain, bias, bias, y2, n2, r2);
        Assert.Equal(y1, y2);
        Assert.Equal(n1, n2);
        Assert.Equal(r1, r2);
        float[] dx1 = new float[B * N], dg1 = new float[N], db1 = new float[N], dx2 = new float[B * N], dg2 = new float[N], db2 = new float[N];
        FusedCells.LayerNormBackward(isa, 0, B, N, dy, n1, r1, gain, dx1, dg1, db1);
        FusedCells.LayerNormBackward(isa, 0, 3, N, dy, n1, r1, gain, dx2, dg2, db2);
        FusedCells.LayerNormBackward(isa, 3, 4, N, dy, n1, r1, gain, dx2, dg2, db2);
        Assert.Equal(dx1, dx2);
        Assert.Equal(dg1, dg2);
        Assert.Equal(db1, db2);

        float[] xg = F(Random(rng, B * N)), hg = F(Random(rng, B * N)), cp = F(Random(rng, B * H)), cg = gain[..H], cb = bias[..H];
        float[] s1 = new float[B * 5 * H], h1 = new float[B * H], c1 = new float[B * H], cn1 = new float[B * H], cr1 = new float[B];
        float[] s2 = new float[B * 5 * H], h2 = new float[B * H], c2 = new float[B * H], cn2 = new float[B * H], cr2 = new float[B];
        FusedCells.LstmLayerNormForward(isa, 0, B, H, xg, hg, cp, s1, h1, c1, cg, cb, cn1, cr1);
        FusedCells.LstmLayerNormForward(isa, 0, 3, H, xg, hg, cp, s2, h2, c2, cg, cb, cn2, cr2);
        Assert.All(h2.AsSpan(3 * H).ToArray(), v => Assert.Equal(0f, v));
        FusedCells.LstmLayerNormForward(isa, 3, 4, H, xg, hg, cp, s2, h2, c2, cg, cb, cn2, cr2);
        Assert.Equal(s1, s2);
        Assert.Equal(h1, h2);
        Assert.Equal(c1, c2);
        Assert.Equal(cn1, cn2);
        Assert.Equal(cr1, cr2);
        float[] dh = F(Random(rng, B * H, 1)), dc = F(Random(rng, B * H, 1));
        float[] da1 = new float[B * N], dhp1 = new float[B * H], dcp1 = new float[B * H], dcg1 = new float[H], dcb1 = new float[H];
        float[] da2 = new float[B * N], dhp2 = new float[B * H], dcp2 = new float[B * H], dcg2 = new float[H], dcb2 = new float[H];
        FusedCells.LstmLayerNormBackward(isa, 0, B, H, s1, cp, dh, dc, cn1, cr1, cg, da1, dhp1, dcp1, dcg1, dcb1, [], 0);
        FusedCells.LstmLayerNormBackward(isa, 0, 3, H, s1, cp, dh, dc, cn1, cr1, cg, da2, dhp2, dcp2, dcg2, dcb2, [], 0);
        FusedCells.LstmLayerNormBackward(isa, 3, 4, H, s1, cp, dh, dc, cn1, cr1, cg, da2, dhp2, dcp2, dcg2, dcb2, [], 0);
        Assert.Equal(da1, da2);
        Assert.Equal(dcp1, dcp2);
        Assert.Equal(dcg1, dcg2);
        Assert.Equal(dcb1, dcb2);
    }
}
