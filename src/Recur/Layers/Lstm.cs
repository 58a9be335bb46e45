using Recur.Initialization;
using Recur.Layers.Recurrent;
using Recur.Randomness;

namespace Recur.Layers;

/// <summary>Stacked LSTM (gates i, f, g, o), as <c>torch.nn.LSTM(batch_first=True)</c>.</summary>
public sealed class Lstm(string name, int inputSize, int hiddenSize, int numLayers = 1,
    RecurrentInitialization? initialization = null, RecurRandom? random = null, bool layerNorm = false)
    : RecurrentModule<LstmCell>(name, inputSize, hiddenSize, numLayers, initialization, random, layerNorm);
