using Recur.Autograd;
using Recur.Layers;
using Recur.Models;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// Attention pooling (additive and dot): the double kernel against finite differences with padded sequences, the
/// float kernel against the double one, and the model's padded batch against each sequence alone.
/// </summary>
public class AttentionGradientTests
{
    private const int B = 3, S = 5, F = 4, A = 3;
    private static readonly int[] Lengths = [5, 2, 4];

    private static double[] Random(RecurRandom rng, int n) => Enumerable.Range(0, n).Select(_ => rng.Uniform(-1, 1)).ToArray();

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    private static void AssertMaskedAndNormalised(double[] weights)
    {
        for (int b = 0; b < B; b++)
        {
            double sum = 0;
            for (int t = 0; t < S; t++)
            {
                if (t >= Lengths[b]) Assert.Equal(0.0, weights[b * S + t]); // exactly
                else Assert.True(weights[b * S + t] > 0);
                sum += weights[b * S + t];
            }
            Assert.Equal(1.0, sum, 12);
        }
    }

    /// <summary>Padded steps are filled with values that must not matter, to show they are masked.</summary>
    private static void AssertNoGradientAtPaddedSteps(double[] dh)
    {
        for (int b = 0; b < B; b++)
            for (int t = Lengths[b]; t < S; t++)
                for (int f = 0; f < F; f++) Assert.Equal(0.0, dh[(b * S + t) * F + f]);
    }

    [Fact]
    public void AdditiveGradientsMatchFiniteDifferencesWithLengths()
    {
        var rng = new RecurRandom(31);
        double[] h = Random(rng, B * S * F), w = Random(rng, A * F), bias = Random(rng, A), v = Random(rng, A), dc = Random(rng, B * F);
        double Loss()
        {
            double[] hidden = new double[B * S * A], weights = new double[B * S], context = new double[B * F];
            AttentionKernel<double>.AdditivePool(B, S, F, A, Lengths, h, w, bias, v, hidden, weights, context);
            return Dot(context, dc);
        }
        double[] hid = new double[B * S * A], alpha = new double[B * S], ctx = new double[B * F];
        AttentionKernel<double>.AdditivePool(B, S, F, A, Lengths, h, w, bias, v, hid, alpha, ctx);
        AssertMaskedAndNormalised(alpha);
        double[] dh = new double[h.Length], dw = new double[w.Length], db = new double[A], dv = new double[A];
        AttentionKernel<double>.AdditivePoolBackward(B, S, F, A, Lengths, h, w, v, hid, alpha, dc, dh, dw, db, dv);
        foreach (var (name, value, grad) in new[] { ("h", h, dh), ("weight", w, dw), ("bias", bias, db), ("v", v, dv) })
        {
            double error = GradientCheck.RelativeError(grad, GradientCheck.Numeric(Loss, value));
            Assert.True(error < 1e-8, $"additive attention d/d{name}: relative error {error:E2}");
        }
        AssertNoGradientAtPaddedSteps(dh);
    }

    [Fact]
    public void DotGradientsMatchFiniteDifferencesWithLengths()
    {
        var rng = new RecurRandom(32);
        double[] h = Random(rng, B * S * F), q = Random(rng, F), dc = Random(rng, B * F);
        double Loss()
        {
            double[] weights = new double[B * S], context = new double[B * F];
            AttentionKernel<double>.DotPool(B, S, F, Lengths, h, q, weights, context);
            return Dot(context, dc);
        }
        double[] alpha = new double[B * S], ctx = new double[B * F];
        AttentionKernel<double>.DotPool(B, S, F, Lengths, h, q, alpha, ctx);
        AssertMaskedAndNormalised(alpha);
        double[] dh = new double[h.Length], dq = new double[F];
        AttentionKernel<double>.DotPoolBackward(B, S, F, Lengths, h, q, alpha, dc, dh, dq);
        foreach (var (name, value, grad) in new[] { ("h", h, dh), ("query", q, dq) })
        {
            double error = GradientCheck.RelativeError(grad, GradientCheck.Numeric(Loss, value));
            Assert.True(error < 1e-8, $"dot attention d/d{name}: relative error {error:E2}");
        }
        AssertNoGradientAtPaddedSteps(dh);
    }

    [Fact]
    public void PerSequenceQueriesAndOffsetsMatchFiniteDifferences()
    {
        // The decoder's form: a query (dot) and an offset (additive) per sequence, row stride F and A.
        var rng = new RecurRandom(33);
        double[] keys = Random(rng, B * S * F), query = Random(rng, B * F), proj = Random(rng, B * S * A), offset = Random(rng, B * A),
            v = Random(rng, A), dScores = Random(rng, B * S);
        double scale = AttentionKernel<double>.Scale(F);
        double DotLoss()
        {
            var s = new double[B * S];
            AttentionKernel<double>.DotScores(B, S, F, Lengths, keys, query, F, scale, s);
            return Dot(s, dScores);
        }
        double[] dKeys = new double[keys.Length], dQuery = new double[query.Length];
        AttentionKernel<double>.DotScoresBackward(B, S, F, Lengths, keys, query, F, scale, dScores, dKeys, dQuery);
        Assert.True(GradientCheck.RelativeError(dKeys, GradientCheck.Numeric(DotLoss, keys)) < 1e-8);
        Assert.True(GradientCheck.RelativeError(dQuery, GradientCheck.Numeric(DotLoss, query)) < 1e-8);

        double AdditiveLoss()
        {
            double[] hidden = (double[])proj.Clone(), s = new double[B * S];
            AttentionKernel<double>.AdditiveScores(B, S, A, Lengths, hidden, offset, A, v, s);
            return Dot(s, dScores);
        }
        double[] hid = (double[])proj.Clone(), scores = new double[B * S];
        AttentionKernel<double>.AdditiveScores(B, S, A, Lengths, hid, offset, A, v, scores);
        double[] dProj = new double[proj.Length], dOffset = new double[offset.Length], dv = new double[A];
        AttentionKernel<double>.AdditiveScoresBackward(B, S, A, Lengths, hid, v, dScores, dProj, dOffset, A, dv);
        Assert.True(GradientCheck.RelativeError(dProj, GradientCheck.Numeric(AdditiveLoss, proj)) < 1e-8);
        Assert.True(GradientCheck.RelativeError(dOffset, GradientCheck.Numeric(AdditiveLoss, offset)) < 1e-8);
        Assert.True(GradientCheck.RelativeError(dv, GradientCheck.Numeric(AdditiveLoss, v)) < 1e-8);
    }

    [Theory]
    [InlineData(AttentionKind.Additive)]
    [InlineData(AttentionKind.Dot)]
    public void FloatMatchesDouble(AttentionKind kind)
    {
        const int b = 7, s = 23, f = 40, a = 40;
        var rng = new RecurRandom(34);
        int[] lengths = Enumerable.Range(0, b).Select(i => 1 + (i * 5) % s).ToArray();
        double[] h = Random(rng, b * s * f), w = Random(rng, a * f), bias = Random(rng, a), v = Random(rng, a), q = Random(rng, f), dc = Random(rng, b * f);
        double[] alphaD = new double[b * s], ctxD = new double[b * f], hidD = new double[b * s * a], dhD = new double[h.Length], dwD = new double[w.Length],
            dbD = new double[a], dvD = new double[a], dqD = new double[f];
        float[] alphaF = new float[b * s], ctxF = new float[b * f], hidF = new float[b * s * a], dhF = new float[h.Length], dwF = new float[w.Length],
            dbF = new float[a], dvF = new float[a], dqF = new float[f];
        if (kind == AttentionKind.Additive)
        {
            AttentionKernel<double>.AdditivePool(b, s, f, a, lengths, h, w, bias, v, hidD, alphaD, ctxD);
            AttentionKernel<double>.AdditivePoolBackward(b, s, f, a, lengths, h, w, v, hidD, alphaD, dc, dhD, dwD, dbD, dvD);
            AttentionKernel<float>.AdditivePool(b, s, f, a, lengths, F32(h), F32(w), F32(bias), F32(v), hidF, alphaF, ctxF);
            AttentionKernel<float>.AdditivePoolBackward(b, s, f, a, lengths, F32(h), F32(w), F32(v), hidF, alphaF, F32(dc), dhF, dwF, dbF, dvF);
            RecurrentGradientTests.AssertClose("additive dW", dwF, dwD, 1e-5);
            RecurrentGradientTests.AssertClose("additive dbias", dbF, dbD, 1e-5);
            RecurrentGradientTests.AssertClose("additive dv", dvF, dvD, 1e-5);
        }
        else
        {
            AttentionKernel<double>.DotPool(b, s, f, lengths, h, q, alphaD, ctxD);
            AttentionKernel<double>.DotPoolBackward(b, s, f, lengths, h, q, alphaD, dc, dhD, dqD);
            AttentionKernel<float>.DotPool(b, s, f, lengths, F32(h), F32(q), alphaF, ctxF);
            AttentionKernel<float>.DotPoolBackward(b, s, f, lengths, F32(h), F32(q), alphaF, F32(dc), dhF, dqF);
            RecurrentGradientTests.AssertClose("dot dquery", dqF, dqD, 1e-5);
        }
        RecurrentGradientTests.AssertClose("weights", alphaF, alphaD, 1e-5);
        RecurrentGradientTests.AssertClose("context", ctxF, ctxD, 1e-5);
        RecurrentGradientTests.AssertClose("dh", dhF, dhD, 1e-5);
    }

    [Theory]
    [InlineData(AttentionKind.Additive, false)]
    [InlineData(AttentionKind.Dot, false)]
    [InlineData(AttentionKind.Additive, true)]
    [InlineData(AttentionKind.Dot, true)]
    public void PaddedBatchEqualsEachSequenceAloneAndGradientsAdd(AttentionKind kind, bool bidirectional)
    {
        var spec = new SequenceModelSpec
        {
            Cell = CellKind.Gru, HiddenSize = 6, VocabularySize = 11, EmbeddingSize = 5, OutputSize = 3,
            Bidirectional = bidirectional, Attention = kind,
        };
        var model = new SequenceModel(spec, new RecurRandom(35));
        Assert.Contains(model.Parameters, p => p.Name.StartsWith("attention.", StringComparison.Ordinal));
        int[] lengths = [6, 2, 4];
        const int T = 6;
        var rng = new RecurRandom(36);
        var tokens = new int[lengths.Length * T];
        for (int b = 0; b < lengths.Length; b++)
            for (int t = 0; t < lengths[b]; t++) tokens[b * T + t] = 1 + (int)(rng.NextUInt64() % 10);
        var batch = new SequenceBatch(lengths.Length, T, null, tokens) { Lengths = lengths };

        var together = model.Forward(Tape.Inference, batch, training: false, null).Value.Data;
        var weights = model.AttentionWeights(batch)!;
        Assert.Equal([lengths.Length, T], weights.Shape);
        var gradTogether = Gradients(model, batch);
        var gradAlone = new float[gradTogether.Length];
        for (int b = 0; b < lengths.Length; b++)
        {
            var alone = new SequenceBatch(1, lengths[b], null, tokens.AsSpan(b * T, lengths[b]).ToArray());
            var output = model.Forward(Tape.Inference, alone, training: false, null).Value.Data;
            for (int o = 0; o < 3; o++) Assert.Equal(together[b * 3 + o], output[o], 5);
            var w = model.AttentionWeights(alone)!.Data;
            double sum = 0;
            for (int t = 0; t < T; t++)
            {
                if (t < lengths[b]) Assert.Equal(w[t], weights.Data[b * T + t], 5);
                else Assert.Equal(0f, weights.Data[b * T + t]);
                sum += weights.Data[b * T + t];
            }
            Assert.Equal(1.0, sum, 5);
            var g = Gradients(model, alone);
            for (int i = 0; i < g.Length; i++) gradAlone[i] += g[i];
        }
        var expected = gradAlone.Select(x => (double)x).ToArray();
        Assert.True(GradientCheck.RelativeError(gradTogether, expected) < 1e-5,
            $"gradients of the padded batch vs the sum over sequences alone: {GradientCheck.RelativeError(gradTogether, expected):E2}");
    }

    /// <summary>All parameter gradients (flattened) of Σ outputs·c for a fixed c per sequence.</summary>
    private static float[] Gradients(SequenceModel model, SequenceBatch batch)
    {
        foreach (var p in model.Parameters) p.ZeroGrad();
        var tape = new Tape();
        var output = model.Forward(tape, batch, training: false, null);
        var seed = new Tensor(output.Value.Shape);
        for (int i = 0; i < seed.Length; i++) seed.Data[i] = 0.5f + (i % 3);
        tape.Backward([(output, seed)]);
        return model.Parameters.SelectMany(p => p.Grad.Data).ToArray();
    }

    [Fact]
    public void PerStepModelsRefuseAttention()
    {
        var spec = new SequenceModelSpec { PerStep = true, Attention = AttentionKind.Dot };
        Assert.Throws<ArgumentException>(() => new SequenceModel(spec, new RecurRandom(1)));
        Assert.Null(new SequenceModel(new SequenceModelSpec(), new RecurRandom(1)).AttentionWeights(new SequenceBatch(1, 2, new Tensor(1, 2, 1), null)));
    }

    private static float[] F32(double[] a) => a.Select(x => (float)x).ToArray();
}
