using System.Numerics;
using Recur.Layers.Recurrent;
using Recur.Randomness;

namespace Recur.Tests.Layers;

/// <summary>
/// A recurrent stack with its inputs and upstream gradients, all time-major, for gradient and parity checks in
/// any number type. The scalar loss is L = Σ output·dOutput + Σ h_N·dhN + Σ c_N·dcN, so its gradient with
/// respect to the outputs is exactly the given upstream gradients. <see cref="Lengths"/> ([B], empty = all T)
/// masks right-padded sequences.
/// </summary>
public sealed class RecurrentHarness<T, TCell>
    where T : struct, IFloatingPointIeee754<T>
    where TCell : IRecurrentCell
{
    public int Steps, Batch, Input, Hidden, Layers;
    public T[] X = [], H0 = [], C0 = [], DOutput = [], DhN = [], DcN = [];
    public List<RecurrentLayerWeights<T>> Weights = [];
    public int[] Lengths = [];

    /// <summary>Per-layer regularisation (dropout masks, zoneout); null: none.</summary>
    public List<RecurrentLayerOptions<T>?>? Options;

    public static RecurrentHarness<T, TCell> Random(int steps, int batch, int input, int hidden, int layers, ulong seed, bool layerNorm = false)
    {
        var rng = new RecurRandom(seed);
        T[] Fill(int n, double scale) => Enumerable.Range(0, n).Select(_ => T.CreateChecked(rng.Uniform(-scale, scale))).ToArray();
        int G = TCell.GateCount, state = layers * batch * hidden;
        var h = new RecurrentHarness<T, TCell>
        {
            Steps = steps, Batch = batch, Input = input, Hidden = hidden, Layers = layers,
            X = Fill(steps * batch * input, 1), H0 = Fill(state, 0.8),
            C0 = TCell.HasCellState ? Fill(state, 0.8) : [],
            DOutput = Fill(steps * batch * hidden, 1), DhN = Fill(state, 1),
            DcN = TCell.HasCellState ? Fill(state, 1) : [],
        };
        for (int l = 0; l < layers; l++)
        {
            int inSize = l == 0 ? input : hidden;
            h.Weights.Add(new RecurrentLayerWeights<T>(G, inSize, hidden,
                Fill(G * hidden * inSize, 0.7), Fill(G * hidden * hidden, 0.7), Fill(G * hidden, 0.5), Fill(G * hidden, 0.5)));
        }
        if (layerNorm)
            for (int l = 0; l < layers; l++)
            {
                T[] Gain(int n) => Fill(n, 0.3).Select(v => v + T.One).ToArray();
                int cell = TCell.HasCellState ? hidden : 0;
                var w = h.Weights[l];
                h.Weights[l] = new RecurrentLayerWeights<T>(G, w.InputSize, hidden, w.InputWeights, w.RecurrentWeights, w.InputBias, w.RecurrentBias)
                {
                    LayerNorm = new RecurrentLayerNorm<T>(Gain(G * hidden), Fill(G * hidden, 0.3), Gain(G * hidden), Fill(G * hidden, 0.3), Gain(cell), Fill(cell, 0.3)),
                };
            }
        return h;
    }

    /// <summary>The same harness converted to another number type.</summary>
    public RecurrentHarness<TOther, TCell> Convert<TOther>() where TOther : struct, IFloatingPointIeee754<TOther>
    {
        static TOther[] C(T[] a) => a.Select(TOther.CreateChecked).ToArray();
        var h = new RecurrentHarness<TOther, TCell>
        {
            Steps = Steps, Batch = Batch, Input = Input, Hidden = Hidden, Layers = Layers, Lengths = Lengths,
            X = C(X), H0 = C(H0), C0 = C(C0), DOutput = C(DOutput), DhN = C(DhN), DcN = C(DcN),
            Options = Options?.Select(o => o is null ? null : new RecurrentLayerOptions<TOther>
            {
                InputMask = o.InputMask is null ? null : C(o.InputMask), RecurrentMask = o.RecurrentMask is null ? null : C(o.RecurrentMask),
                ZoneoutHidden = o.ZoneoutHidden is null ? null : C(o.ZoneoutHidden), ZoneoutCell = o.ZoneoutCell is null ? null : C(o.ZoneoutCell),
                Zoneout = o.Zoneout,
            }).ToList(),
        };
        foreach (var w in Weights)
            h.Weights.Add(new RecurrentLayerWeights<TOther>(w.GateCount, w.InputSize, w.HiddenSize,
                C(w.InputWeights), C(w.RecurrentWeights), C(w.InputBias), C(w.RecurrentBias))
            {
                LayerNorm = w.LayerNorm is not { } n ? null
                    : new RecurrentLayerNorm<TOther>(C(n.InputGain), C(n.InputBias), C(n.RecurrentGain), C(n.RecurrentBias), C(n.CellGain), C(n.CellBias)),
            });
        return h;
    }

    public RecurrentStackResult<T> Forward() =>
        RecurrentStackKernel<T, TCell>.Forward(Weights, X, Steps, Batch, H0, C0, Lengths, Options);

    public T Loss()
    {
        var r = Forward();
        T sum = T.Zero;
        var output = r.Output.Span;
        for (int i = 0; i < output.Length; i++) sum += output[i] * DOutput[i];
        for (int i = 0; i < r.FinalHidden.Length; i++) sum += r.FinalHidden[i] * DhN[i];
        for (int i = 0; i < r.FinalCell.Length; i++) sum += r.FinalCell[i] * DcN[i];
        return sum;
    }

    /// <summary>Gradients of <see cref="Loss"/>: with respect to x, h0, c0 and every layer's weights.</summary>
    public (T[] dx, T[] dh0, T[] dc0, List<RecurrentLayerWeights<T>> dWeights) Backward()
    {
        var r = Forward();
        var dWeights = Weights.Select(w => w.ZerosLike()).ToList();
        var dx = new T[X.Length];
        var dh0 = new T[H0.Length];
        var dc0 = new T[C0.Length];
        RecurrentStackKernel<T, TCell>.Backward(Weights, r, DOutput, DhN, DcN, dWeights, dx, dh0, dc0);
        return (dx, dh0, dc0, dWeights);
    }

    /// <summary>Every differentiable array by name, with its gradient array from <see cref="Backward"/>.</summary>
    public IEnumerable<(string name, T[] value, T[] grad)> Named((T[] dx, T[] dh0, T[] dc0, List<RecurrentLayerWeights<T>> dWeights) g)
    {
        yield return ("input", X, g.dx);
        yield return ("h0", H0, g.dh0);
        if (TCell.HasCellState) yield return ("c0", C0, g.dc0);
        for (int l = 0; l < Layers; l++)
        {
            yield return ($"weight_ih_l{l}", Weights[l].InputWeights, g.dWeights[l].InputWeights);
            yield return ($"weight_hh_l{l}", Weights[l].RecurrentWeights, g.dWeights[l].RecurrentWeights);
            yield return ($"bias_ih_l{l}", Weights[l].InputBias, g.dWeights[l].InputBias);
            yield return ($"bias_hh_l{l}", Weights[l].RecurrentBias, g.dWeights[l].RecurrentBias);
            if (Weights[l].LayerNorm is { } n && g.dWeights[l].LayerNorm is { } dn)
            {
                yield return ($"ln_ih_weight_l{l}", n.InputGain, dn.InputGain);
                yield return ($"ln_ih_bias_l{l}", n.InputBias, dn.InputBias);
                yield return ($"ln_hh_weight_l{l}", n.RecurrentGain, dn.RecurrentGain);
                yield return ($"ln_hh_bias_l{l}", n.RecurrentBias, dn.RecurrentBias);
                if (TCell.HasCellState)
                {
                    yield return ($"ln_c_weight_l{l}", n.CellGain, dn.CellGain);
                    yield return ($"ln_c_bias_l{l}", n.CellBias, dn.CellBias);
                }
            }
        }
    }
}
