using System.Numerics;

namespace Recur.Layers.Recurrent;

/// <summary>
/// The four tensors of one recurrent layer and direction, laid out as PyTorch's: W_ih [G·H, I], W_hh [G·H, H],
/// b_ih [G·H], b_hh [G·H], gate blocks in the cell's order. The same type carries their gradients.
/// </summary>
public sealed class RecurrentLayerWeights<T> where T : struct, IFloatingPointIeee754<T>
{
    public int InputSize { get; }
    public int HiddenSize { get; }
    public int GateCount { get; }

    /// <summary>W_ih: [G·H, I].</summary>
    public T[] InputWeights { get; }

    /// <summary>W_hh: [G·H, H].</summary>
    public T[] RecurrentWeights { get; }

    /// <summary>b_ih: [G·H].</summary>
    public T[] InputBias { get; }

    /// <summary>b_hh: [G·H].</summary>
    public T[] RecurrentBias { get; }

    public RecurrentLayerWeights(int gateCount, int inputSize, int hiddenSize)
        : this(gateCount, inputSize, hiddenSize,
            new T[gateCount * hiddenSize * inputSize], new T[gateCount * hiddenSize * hiddenSize],
            new T[gateCount * hiddenSize], new T[gateCount * hiddenSize])
    {
    }

    /// <summary>Wraps existing arrays (no copy), e.g. a model's float parameters or their gradients.</summary>
    public RecurrentLayerWeights(int gateCount, int inputSize, int hiddenSize,
        T[] inputWeights, T[] recurrentWeights, T[] inputBias, T[] recurrentBias)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hiddenSize);
        int gh = gateCount * hiddenSize;
        Check(inputWeights, gh * inputSize, "weight_ih");
        Check(recurrentWeights, gh * hiddenSize, "weight_hh");
        Check(inputBias, gh, "bias_ih");
        Check(recurrentBias, gh, "bias_hh");
        (GateCount, InputSize, HiddenSize) = (gateCount, inputSize, hiddenSize);
        (InputWeights, RecurrentWeights, InputBias, RecurrentBias) = (inputWeights, recurrentWeights, inputBias, recurrentBias);
    }

    /// <summary>
    /// Layer-normalisation parameters (<see cref="RecurrentLayerNorm{T}"/>); null for the plain cell. Set it on the
    /// gradients too (<see cref="ZerosLike"/> does) when the weights have it.
    /// </summary>
    public RecurrentLayerNorm<T>? LayerNorm
    {
        get => _layerNorm;
        init
        {
            if (value is not null && (value.InputGain.Length != GateCount * HiddenSize || value.CellGain.Length is not 0 && value.CellGain.Length != HiddenSize))
                throw new ArgumentException($"layer-norm parameters must hold G·H = {GateCount * HiddenSize} gains (and H = {HiddenSize} for c); found {value.InputGain.Length}.", nameof(LayerNorm));
            _layerNorm = value;
        }
    }
    private readonly RecurrentLayerNorm<T>? _layerNorm;

    /// <summary>Zeroed arrays of the same shapes (layer norm included), e.g. for gradients.</summary>
    public RecurrentLayerWeights<T> ZerosLike() => new(GateCount, InputSize, HiddenSize)
    {
        LayerNorm = LayerNorm is null ? null : new RecurrentLayerNorm<T>(GateCount * HiddenSize, LayerNorm.CellGain.Length),
    };

    private static void Check(T[] array, int expected, string name)
    {
        ArgumentNullException.ThrowIfNull(array, name);
        if (array.Length != expected)
            throw new ArgumentException($"{name} must hold {expected} values for this layer; found {array.Length}.", name);
    }
}

/// <summary>
/// Layer-normalisation parameters of one layer (Ba et al. 2016): the gate pre-activations are
/// LN_ih(x·W_ihᵀ) + b_ih and LN_hh(h·W_hhᵀ) + b_hh, each normalised over the whole G·H vector of a sequence and
/// step, and for LSTM h = o ⊙ tanh(LN_c(c)) (c itself is carried unnormalised). Named in modules
/// <c>ln_ih_weight_l{k}</c>, <c>ln_ih_bias_l{k}</c>, <c>ln_hh_weight_l{k}</c>, <c>ln_hh_bias_l{k}</c> [G·H] and
/// <c>ln_c_weight_l{k}</c>, <c>ln_c_bias_l{k}</c> [H] (not PyTorch names: torch.nn.LSTM has no layer norm).
/// </summary>
public sealed class RecurrentLayerNorm<T> where T : struct, IFloatingPointIeee754<T>
{
    /// <summary>Zeroed arrays: G·H gains and biases for each product, <paramref name="cellWidth"/> (H or 0) for c.</summary>
    public RecurrentLayerNorm(int gateWidth, int cellWidth)
        : this(new T[gateWidth], new T[gateWidth], new T[gateWidth], new T[gateWidth], new T[cellWidth], new T[cellWidth])
    {
    }

    /// <summary>Wraps existing arrays (no copy).</summary>
    public RecurrentLayerNorm(T[] inputGain, T[] inputBias, T[] recurrentGain, T[] recurrentBias, T[] cellGain, T[] cellBias)
    {
        if (inputBias.Length != inputGain.Length || recurrentGain.Length != inputGain.Length || recurrentBias.Length != inputGain.Length || cellBias.Length != cellGain.Length)
            throw new ArgumentException("layer-norm gains and biases must come in pairs of equal length.");
        (InputGain, InputBias, RecurrentGain, RecurrentBias, CellGain, CellBias) = (inputGain, inputBias, recurrentGain, recurrentBias, cellGain, cellBias);
    }

    /// <summary>ln_ih_weight, ln_ih_bias: [G·H].</summary>
    public T[] InputGain { get; }
    public T[] InputBias { get; }

    /// <summary>ln_hh_weight, ln_hh_bias: [G·H].</summary>
    public T[] RecurrentGain { get; }
    public T[] RecurrentBias { get; }

    /// <summary>ln_c_weight, ln_c_bias: [H] (LSTM); empty otherwise.</summary>
    public T[] CellGain { get; }
    public T[] CellBias { get; }
}
