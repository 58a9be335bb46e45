using Recur.Autograd;
using Recur.Tensors;

namespace Recur.Layers;

/// <summary>
/// A layer or model: a named set of parameters. Parameter names are <c>&lt;module&gt;.&lt;parameter&gt;</c> with
/// PyTorch's parameter names, so a state dictionary maps one to one onto a PyTorch module's.
/// </summary>
public abstract class Module
{
    protected Module(string name)
    {
        Name = name;
    }

    /// <summary>Prefix of every parameter name; empty for none.</summary>
    public string Name { get; }

    public abstract IReadOnlyList<Parameter> Parameters { get; }

    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }

    public long ParameterCount => Parameters.Sum(p => (long)p.Value.Length);

    /// <summary>The qualified parameter name for a local one: <c>encoder.weight_ih_l0</c>.</summary>
    protected string Qualify(string local) => Name.Length == 0 ? local : $"{Name}.{local}";

    /// <summary>Parameter values by qualified name (the live tensors, not copies).</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict() => Parameters.ToDictionary(p => p.Name, p => p.Value);

    /// <summary>
    /// Copies values into the parameters by qualified name. Every parameter must be present with its exact shape;
    /// with <paramref name="strict"/>, unknown names are an error too.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        foreach (var p in Parameters)
        {
            if (!state.TryGetValue(p.Name, out var value))
                throw new ArgumentException($"State dictionary has no tensor '{p.Name}' (expected shape {p.Value.ShapeText}).", nameof(state));
            if (!value.SameShape(p.Value))
                throw new ArgumentException($"Tensor '{p.Name}' has shape {value.ShapeText}; expected {p.Value.ShapeText}.", nameof(state));
        }
        if (strict)
        {
            var known = Parameters.Select(p => p.Name).ToHashSet();
            var unknown = state.Keys.Where(k => !known.Contains(k)).ToList();
            if (unknown.Count > 0)
                throw new ArgumentException($"State dictionary has tensors this module does not own: {string.Join(", ", unknown)}.", nameof(state));
        }
        foreach (var p in Parameters) state[p.Name].Data.CopyTo(p.Value.Data, 0);
    }
}
