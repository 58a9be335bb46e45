using System.Numerics;

namespace Recur.Layers;

/// <summary>
/// Attention over the steps of right-padded sequences, forward and backward side by side, generic over the number
/// type (double for finite differences, float in production). B sequences of S steps of F features (the keys and
/// values, e.g. a recurrent stack's outputs [B, S, F]); <c>lengths</c> [B] gives each sequence's real steps (empty:
/// all S). Only real steps take part: a padded step gets weight 0 exactly, and no gradient.
/// <list type="bullet">
/// <item>Additive (Bahdanau): score[b, t] = vᵀ tanh(W·h[b, t] + e[b]), with e[b] = bias (pooling) or bias + U·query[b] (a decoder).</item>
/// <item>Dot product (Luong): score[b, t] = scale · q[b]ᵀ h[b, t], scale = 1/√F.</item>
/// </list>
/// weights[b, ·] = softmax over the real steps of score[b, ·]; context[b] = Σ_t weights[b, t] · h[b, t].
/// A row stride of 0 for a per-sequence input (offset, query) broadcasts one row to every sequence and sums its
/// gradient over them.
/// </summary>
public static class AttentionKernel<T> where T : struct, IFloatingPointIeee754<T>
{
    private static int Length(ReadOnlySpan<int> lengths, int b, int steps) => lengths.IsEmpty ? steps : lengths[b];

    /// <summary>
    /// hidden: [B, S, A] holds W·h[b, t] on entry and tanh(W·h[b, t] + offset[b]) on return (real steps; padded steps
    /// 0); offset: rows of A at stride <paramref name="offsetStride"/>; v: [A] → scores: [B, S] (padded steps 0).
    /// </summary>
    public static void AdditiveScores(int batch, int steps, int size, ReadOnlySpan<int> lengths, Span<T> hidden,
        ReadOnlySpan<T> offset, int offsetStride, ReadOnlySpan<T> v, Span<T> scores)
    {
        for (int b = 0; b < batch; b++)
        {
            int n = Length(lengths, b, steps);
            var e = offset.Slice(b * offsetStride, size);
            for (int t = 0; t < steps; t++)
            {
                var u = hidden.Slice((b * steps + t) * size, size);
                if (t >= n) { u.Clear(); scores[b * steps + t] = T.Zero; continue; }
                T s = T.Zero;
                for (int a = 0; a < size; a++)
                {
                    u[a] = T.Tanh(u[a] + e[a]);
                    s += v[a] * u[a];
                }
                scores[b * steps + t] = s;
            }
        }
    }

    /// <summary>
    /// dScores: [B, S] → adds dProjected [B, S, A] (the gradient of W·h[b, t]; 0 at padded steps), dOffset (rows at
    /// <paramref name="offsetStride"/>) and dV [A]. hidden: the tanh values <see cref="AdditiveScores"/> returned.
    /// </summary>
    public static void AdditiveScoresBackward(int batch, int steps, int size, ReadOnlySpan<int> lengths, ReadOnlySpan<T> hidden,
        ReadOnlySpan<T> v, ReadOnlySpan<T> dScores, Span<T> dProjected, Span<T> dOffset, int offsetStride, Span<T> dV)
    {
        for (int b = 0; b < batch; b++)
        {
            int n = Length(lengths, b, steps);
            var de = dOffset.Slice(b * offsetStride, size);
            for (int t = 0; t < n; t++)
            {
                T ds = dScores[b * steps + t];
                int row = (b * steps + t) * size;
                for (int a = 0; a < size; a++)
                {
                    T u = hidden[row + a];
                    dV[a] += ds * u;
                    T dz = ds * v[a] * (T.One - u * u);
                    dProjected[row + a] += dz;
                    de[a] += dz;
                }
            }
        }
    }

    /// <summary>keys: [B, S, F], query: rows of F at <paramref name="queryStride"/> → scores [B, S] = scale·qᵀk (padded steps 0).</summary>
    public static void DotScores(int batch, int steps, int features, ReadOnlySpan<int> lengths, ReadOnlySpan<T> keys,
        ReadOnlySpan<T> query, int queryStride, T scale, Span<T> scores)
    {
        for (int b = 0; b < batch; b++)
        {
            int n = Length(lengths, b, steps);
            var q = query.Slice(b * queryStride, features);
            for (int t = 0; t < steps; t++)
            {
                if (t >= n) { scores[b * steps + t] = T.Zero; continue; }
                var k = keys.Slice((b * steps + t) * features, features);
                T s = T.Zero;
                for (int f = 0; f < features; f++) s += q[f] * k[f];
                scores[b * steps + t] = scale * s;
            }
        }
    }

    /// <summary>dScores: [B, S] → adds dKeys [B, S, F] (0 at padded steps) and dQuery (rows at <paramref name="queryStride"/>).</summary>
    public static void DotScoresBackward(int batch, int steps, int features, ReadOnlySpan<int> lengths, ReadOnlySpan<T> keys,
        ReadOnlySpan<T> query, int queryStride, T scale, ReadOnlySpan<T> dScores, Span<T> dKeys, Span<T> dQuery)
    {
        for (int b = 0; b < batch; b++)
        {
            int n = Length(lengths, b, steps);
            var q = query.Slice(b * queryStride, features);
            var dq = dQuery.Slice(b * queryStride, features);
            for (int t = 0; t < n; t++)
            {
                T ds = scale * dScores[b * steps + t];
                int row = (b * steps + t) * features;
                for (int f = 0; f < features; f++)
                {
                    dKeys[row + f] += ds * q[f];
                    dq[f] += ds * keys[row + f];
                }
            }
        }
    }

    /// <summary>In place, scores [B, S] → weights [B, S]: softmax over each sequence's real steps, exactly 0 after them.</summary>
    public static void MaskedSoftmax(int batch, int steps, ReadOnlySpan<int> lengths, Span<T> scores)
    {
        for (int b = 0; b < batch; b++)
        {
            int n = Length(lengths, b, steps);
            if (n < 1 || n > steps) throw new ArgumentException($"lengths[{b}] = {n} is outside 1 … {steps}: attention needs at least one real step.", nameof(lengths));
            var row = scores.Slice(b * steps, steps);
            T max = row[0];
            for (int t = 1; t < n; t++) max = T.Max(max, row[t]);
            T sum = T.Zero;
            for (int t = 0; t < n; t++) sum += row[t] = T.Exp(row[t] - max);
            for (int t = 0; t < n; t++) row[t] /= sum;
            row[n..].Clear();
        }
    }

    /// <summary>
    /// weights: [B, S], dWeights: [B, S] → dScores [B, S] (overwritten): α·(dα − Σ α·dα) on real steps, 0 after them.
    /// </summary>
    public static void MaskedSoftmaxBackward(int batch, int steps, ReadOnlySpan<int> lengths, ReadOnlySpan<T> weights,
        ReadOnlySpan<T> dWeights, Span<T> dScores)
    {
        for (int b = 0; b < batch; b++)
        {
            int n = Length(lengths, b, steps);
            int row = b * steps;
            T dot = T.Zero;
            for (int t = 0; t < n; t++) dot += weights[row + t] * dWeights[row + t];
            for (int t = 0; t < n; t++) dScores[row + t] = weights[row + t] * (dWeights[row + t] - dot);
            dScores.Slice(row + n, steps - n).Clear();
        }
    }

    /// <summary>weights: [B, S], values: [B, S, F] → context [B, F] = Σ_t weights[b, t]·values[b, t] (overwritten).</summary>
    public static void Pool(int batch, int steps, int features, ReadOnlySpan<int> lengths, ReadOnlySpan<T> weights,
        ReadOnlySpan<T> values, Span<T> context)
    {
        for (int b = 0; b < batch; b++)
        {
            int n = Length(lengths, b, steps);
            var c = context.Slice(b * features, features);
            c.Clear();
            for (int t = 0; t < n; t++)
            {
                T w = weights[b * steps + t];
                var x = values.Slice((b * steps + t) * features, features);
                for (int f = 0; f < features; f++) c[f] += w * x[f];
            }
        }
    }

    /// <summary>dContext: [B, F] → dWeights [B, S] (overwritten; 0 at padded steps) and adds dValues [B, S, F] (0 at padded steps).</summary>
    public static void PoolBackward(int batch, int steps, int features, ReadOnlySpan<int> lengths, ReadOnlySpan<T> weights,
        ReadOnlySpan<T> values, ReadOnlySpan<T> dContext, Span<T> dWeights, Span<T> dValues)
    {
        for (int b = 0; b < batch; b++)
        {
            int n = Length(lengths, b, steps);
            var dc = dContext.Slice(b * features, features);
            for (int t = 0; t < steps; t++)
            {
                if (t >= n) { dWeights[b * steps + t] = T.Zero; continue; }
                T w = weights[b * steps + t];
                int row = (b * steps + t) * features;
                T dw = T.Zero;
                for (int f = 0; f < features; f++)
                {
                    dw += dc[f] * values[row + f];
                    dValues[row + f] += w * dc[f];
                }
                dWeights[b * steps + t] = dw;
            }
        }
    }

    /// <summary>
    /// Additive attention pooling with a learned score: h [B, S, F], weight W [A, F], bias [A], v [A] → hidden
    /// [B, S, A] (tanh activations, kept for backward), weights [B, S], context [B, F].
    /// </summary>
    public static void AdditivePool(int batch, int steps, int features, int size, ReadOnlySpan<int> lengths, ReadOnlySpan<T> h,
        ReadOnlySpan<T> weight, ReadOnlySpan<T> bias, ReadOnlySpan<T> v, Span<T> hidden, Span<T> weights, Span<T> context)
    {
        DenseKernel<T>.Forward(batch * steps, features, size, h, weight, [], hidden);
        AdditiveScores(batch, steps, size, lengths, hidden, bias, 0, v, weights);
        MaskedSoftmax(batch, steps, lengths, weights);
        Pool(batch, steps, features, lengths, weights, h, context);
    }

    /// <summary>dContext [B, F] → adds dh [B, S, F] (0 at padded steps), dWeight [A, F], dBias [A], dV [A].</summary>
    public static void AdditivePoolBackward(int batch, int steps, int features, int size, ReadOnlySpan<int> lengths, ReadOnlySpan<T> h,
        ReadOnlySpan<T> weight, ReadOnlySpan<T> v, ReadOnlySpan<T> hidden, ReadOnlySpan<T> weights, ReadOnlySpan<T> dContext,
        Span<T> dh, Span<T> dWeight, Span<T> dBias, Span<T> dV)
    {
        var dScores = new T[batch * steps];
        PoolBackward(batch, steps, features, lengths, weights, h, dContext, dScores, dh);
        MaskedSoftmaxBackward(batch, steps, lengths, weights, dScores, dScores);
        var dProjected = new T[batch * steps * size];
        AdditiveScoresBackward(batch, steps, size, lengths, hidden, v, dScores, dProjected, dBias, 0, dV);
        DenseKernel<T>.Backward(batch * steps, features, size, h, weight, dProjected, dh, dWeight, []);
    }

    /// <summary>Dot-product attention pooling with a learned query q [F]: h [B, S, F] → weights [B, S], context [B, F]; scale 1/√F.</summary>
    public static void DotPool(int batch, int steps, int features, ReadOnlySpan<int> lengths, ReadOnlySpan<T> h, ReadOnlySpan<T> query,
        Span<T> weights, Span<T> context)
    {
        DotScores(batch, steps, features, lengths, h, query, 0, Scale(features), weights);
        MaskedSoftmax(batch, steps, lengths, weights);
        Pool(batch, steps, features, lengths, weights, h, context);
    }

    /// <summary>dContext [B, F] → adds dh [B, S, F] (0 at padded steps) and dQuery [F].</summary>
    public static void DotPoolBackward(int batch, int steps, int features, ReadOnlySpan<int> lengths, ReadOnlySpan<T> h,
        ReadOnlySpan<T> query, ReadOnlySpan<T> weights, ReadOnlySpan<T> dContext, Span<T> dh, Span<T> dQuery)
    {
        var dScores = new T[batch * steps];
        PoolBackward(batch, steps, features, lengths, weights, h, dContext, dScores, dh);
        MaskedSoftmaxBackward(batch, steps, lengths, weights, dScores, dScores);
        DotScoresBackward(batch, steps, features, lengths, h, query, 0, Scale(features), dScores, dh, dQuery);
    }

    /// <summary>1/√F, Luong's scaled dot product.</summary>
    public static T Scale(int features) => T.One / T.Sqrt(T.CreateChecked(features));
}
