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

    private static void Check(T[] array, int expected, string name)
    {
        ArgumentNullException.ThrowIfNull(array, name);
        if (array.Length != expected)
            throw new ArgumentException($"{name} must hold {expected} values for this layer; found {array.Length}.", name);
    }
}
