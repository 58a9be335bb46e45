using Recur.Initialization;
using Recur.Layers.Recurrent;
using Recur.Randomness;

namespace Recur.Layers;

/// <summary>Stacked (optionally bidirectional) LSTM (gates i, f, g, o), as <c>torch.nn.LSTM(batch_first=True)</c>; <paramref name="options"/>: bidirectional, dropout between layers, residual connections.</summary>
public sealed class Lstm(string name, int inputSize, int hiddenSize, int numLayers = 1,
    RecurrentInitialization? initialization = null, RecurRandom? random = null, RecurrentStackOptions? options = null, bool layerNorm = false)
    : RecurrentModule<LstmCell>(name, inputSize, hiddenSize, numLayers, initialization, random, options, layerNorm);
