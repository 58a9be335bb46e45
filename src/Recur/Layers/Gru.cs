using Recur.Initialization;
using Recur.Layers.Recurrent;
using Recur.Randomness;

namespace Recur.Layers;

/// <summary>Stacked (optionally bidirectional) GRU (gates r, z, n; reset after the recurrent product), as <c>torch.nn.GRU(batch_first=True)</c>; <paramref name="options"/>: bidirectional, dropout between layers, residual connections.</summary>
public sealed class Gru(string name, int inputSize, int hiddenSize, int numLayers = 1,
    RecurrentInitialization? initialization = null, RecurRandom? random = null, RecurrentStackOptions? options = null, bool layerNorm = false)
    : RecurrentModule<GruCell>(name, inputSize, hiddenSize, numLayers, initialization, random, options, layerNorm);
