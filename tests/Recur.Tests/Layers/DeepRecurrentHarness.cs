using System.Numerics;
using Recur.Layers.Recurrent;
using Recur.Randomness;

namespace Recur.Tests.Layers;

/// <summary>
/// A bidirectional / residual / dropout stack (<see cref="DeepRecurrentKernel{T, TCell}"/>) with its inputs and
/// upstream gradients, time-major, in any number type. Loss L = Σ output·dOutput + Σ h_N·dhN + Σ c_N·dcN, so its
/// gradient with respect to the outputs is exactly the upstream gradients. Weights: [L·D], index l·D + d.
/// </summary>
public sealed class DeepRecurrentHarness<T, TCell>
    where T : struct, IFloatingPointIeee754<T>
    where TCell : IRecurrentCell
{
    public int Steps, Batch, Input, Hidden, Layers, Directions = 2;
    public bool Residual;
    public T[] X = [], H0 = [], C0 = [], DOutput = [], DhN = [], DcN = [];
    public List<T[]>? Masks;
    public List<RecurrentLayerWeights<T>> Weights = [];
    public int[] Lengths = [];

    /// <summary>Per layer-direction regularisation (index l·D + d: dropout masks, zoneout); null: none.</summary>
    public List<RecurrentLayerOptions<T>?>? Options;

    public static DeepRecurrentHarness<T, TCell> Random(int steps, int batch, int input, int hidden, int layers, ulong seed,
        int directions = 2, bool residual = false, int[]? lengths = null, double dropout = 0, bool layerNorm = false)
    {
        var rng = new RecurRandom(seed);
        T[] Fill(int n, double scale) => Enumerable.Range(0, n).Select(_ => T.CreateChecked(rng.Uniform(-scale, scale))).ToArray();
        int G = TCell.GateCount, D = directions, state = layers * D * batch * hidden;
        var h = new DeepRecurrentHarness<T, TCell>
        {
            Steps = steps, Batch = batch, Input = input, Hidden = hidden, Layers = layers, Directions = D, Residual = residual,
            Lengths = lengths ?? [],
            X = Fill(steps * batch * input, 1), H0 = Fill(state, 0.8),
            C0 = TCell.HasCellState ? Fill(state, 0.8) : [],
            DOutput = Fill(steps * batch * D * hidden, 1), DhN = Fill(state, 1),
            DcN = TCell.HasCellState ? Fill(state, 1) : [],
        };
        for (int l = 0; l < layers; l++)
            for (int d = 0; d < D; d++)
            {
                int inSize = l == 0 ? input : D * hidden;
                h.Weights.Add(new RecurrentLayerWeights<T>(G, inSize, hidden,
                    Fill(G * hidden * inSize, 0.6), Fill(G * hidden * hidden, 0.6), Fill(G * hidden, 0.5), Fill(G * hidden, 0.5)));
            }
        if (dropout > 0)
        {
            h.Masks = [];
            for (int l = 0; l < layers - 1; l++)
            {
                var mask = new T[steps * batch * D * hidden];
                Recur.Layers.DropoutKernel<T>.Mask(dropout, rng, mask);
                h.Masks.Add(mask);
            }
        }
        if (layerNorm)
            for (int k = 0; k < h.Weights.Count; k++)
            {
                T[] Gain(int n) => Fill(n, 0.3).Select(v => v + T.One).ToArray();
                int cell = TCell.HasCellState ? hidden : 0;
                var w = h.Weights[k];
                h.Weights[k] = new RecurrentLayerWeights<T>(G, w.InputSize, hidden, w.InputWeights, w.RecurrentWeights, w.InputBias, w.RecurrentBias)
                {
                    LayerNorm = new RecurrentLayerNorm<T>(Gain(G * hidden), Fill(G * hidden, 0.3), Gain(G * hidden), Fill(G * hidden, 0.3), Gain(cell), Fill(cell, 0.3)),
                };
            }
        return h;
    }

    public RecurrentLayerWeights<T> WeightsOf(int layer, int direction) => Weights[layer * Directions + direction];

    public DeepRecurrentResult<T> Forward() =>
        DeepRecurrentKernel<T, TCell>.Forward(Weights, Directions, Residual, Masks, X, Steps, Batch, H0, C0, Lengths, Options);

    public T Loss()
    {
        var r = Forward();
        T sum = T.Zero;
        for (int i = 0; i < r.Output.Length; i++) sum += r.Output[i] * DOutput[i];
        for (int i = 0; i < r.FinalHidden.Length; i++) sum += r.FinalHidden[i] * DhN[i];
        for (int i = 0; i < r.FinalCell.Length; i++) sum += r.FinalCell[i] * DcN[i];
        return sum;
    }

    public (T[] dx, T[] dh0, T[] dc0, List<RecurrentLayerWeights<T>> dWeights) Backward(double[][]? stepNorms = null)
    {
        var r = Forward();
        var dWeights = Weights.Select(w => w.ZerosLike()).ToList();
        var dx = new T[X.Length];
        var dh0 = new T[H0.Length];
        var dc0 = new T[C0.Length];
        DeepRecurrentKernel<T, TCell>.Backward(Weights, r, DOutput, DhN, DcN, dWeights, dx, dh0, dc0, stepNorms);
        return (dx, dh0, dc0, dWeights);
    }

    /// <summary>Every differentiable array by its PyTorch name, with its gradient from <see cref="Backward"/>.</summary>
    public IEnumerable<(string name, T[] value, T[] grad)> Named((T[] dx, T[] dh0, T[] dc0, List<RecurrentLayerWeights<T>> dWeights) g)
    {
        yield return ("input", X, g.dx);
        yield return ("h0", H0, g.dh0);
        if (TCell.HasCellState) yield return ("c0", C0, g.dc0);
        for (int k = 0; k < Weights.Count; k++)
        {
            string suffix = $"_l{k / Directions}" + (k % Directions == 1 ? "_reverse" : "");
            yield return ("weight_ih" + suffix, Weights[k].InputWeights, g.dWeights[k].InputWeights);
            yield return ("weight_hh" + suffix, Weights[k].RecurrentWeights, g.dWeights[k].RecurrentWeights);
            yield return ("bias_ih" + suffix, Weights[k].InputBias, g.dWeights[k].InputBias);
            yield return ("bias_hh" + suffix, Weights[k].RecurrentBias, g.dWeights[k].RecurrentBias);
            if (Weights[k].LayerNorm is { } n && g.dWeights[k].LayerNorm is { } dn)
            {
                yield return ("ln_ih_weight" + suffix, n.InputGain, dn.InputGain);
                yield return ("ln_ih_bias" + suffix, n.InputBias, dn.InputBias);
                yield return ("ln_hh_weight" + suffix, n.RecurrentGain, dn.RecurrentGain);
                yield return ("ln_hh_bias" + suffix, n.RecurrentBias, dn.RecurrentBias);
                if (TCell.HasCellState)
                {
                    yield return ("ln_c_weight" + suffix, n.CellGain, dn.CellGain);
                    yield return ("ln_c_bias" + suffix, n.CellBias, dn.CellBias);
                }
            }
        }
    }
}
