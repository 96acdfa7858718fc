package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// NewCmdMarketplace is `paved marketplace`: the offerings of every broker.
func NewCmdMarketplace(f *Factory, runF func(*Factory) error) *cobra.Command {
	return &cobra.Command{
		Use:   "marketplace",
		Short: "List the backing services the cell's brokers offer, with their plans",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(f)
			}
			return runMarketplace(cmd.Context(), f)
		},
	}
}

func runMarketplace(ctx context.Context, f *Factory) error {
	c, err := f.Client()
	if err != nil {
		return err
	}
	os, err := c.ServiceOfferings.List(ctx)
	if err != nil {
		return err
	}
	if f.JSON() {
		return f.PrintJSON(os)
	}
	tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OFFERING\tPLANS\tBROKER\tDESCRIPTION")
	for _, o := range os {
		var plans []string
		for _, p := range o.Plans {
			plans = append(plans, p.Name)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.Name, strings.Join(plans, ", "), o.Broker, o.Description)
	}
	return tw.Flush()
}

// ServiceOptions are the arguments of the service commands.
type ServiceOptions struct {
	f          *Factory
	Space      string
	Name       string
	Offering   string
	Plan       string
	Broker     string
	Parameters string
	App        string // bind, unbind
	Binding    string // bind: the binding's name (default INSTANCE-APP)
	Wait       bool
	Timeout    time.Duration
}

// NewCmdService is `paved service create|show|list|update|bind|unbind|delete`.
func NewCmdService(f *Factory, runF func(string, *ServiceOptions) error) *cobra.Command {
	cmd := &cobra.Command{Use: "service", Short: "Manage backing service instances and their bindings to apps"}
	sub := func(use, short string, args cobra.PositionalArgs, verb string, fn func(context.Context, *ServiceOptions) error, flags func(*cobra.Command, *ServiceOptions)) *cobra.Command {
		opts := &ServiceOptions{f: f}
		c := &cobra.Command{Use: use, Short: short, Args: args, RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.Name = args[0]
			}
			if len(args) > 1 {
				opts.App = args[1]
			}
			if runF != nil {
				return runF(verb, opts)
			}
			return fn(cmd.Context(), opts)
		}}
		c.Flags().StringVarP(&opts.Space, "space", "s", "", "the space (required)")
		_ = c.MarkFlagRequired("space")
		if flags != nil {
			flags(c, opts)
		}
		return c
	}
	waitFlags := func(c *cobra.Command, o *ServiceOptions) {
		c.Flags().BoolVar(&o.Wait, "wait", true, "wait until the broker is done")
		c.Flags().DurationVar(&o.Timeout, "timeout", 15*time.Minute, "how long --wait waits")
	}
	cmd.AddCommand(
		sub("create NAME --offering O --plan P", "Create a service instance (the broker provisions it)", cobra.ExactArgs(1), "create", runServiceCreate,
			func(c *cobra.Command, o *ServiceOptions) {
				c.Flags().StringVar(&o.Offering, "offering", "", "the offering (see paved marketplace)")
				c.Flags().StringVar(&o.Plan, "plan", "", "the offering's plan")
				c.Flags().StringVar(&o.Broker, "broker", "", "the broker, when two offer the offering")
				c.Flags().StringVar(&o.Parameters, "parameters", "", "parameters for the broker, a JSON object")
				_ = c.MarkFlagRequired("offering")
				_ = c.MarkFlagRequired("plan")
				waitFlags(c, o)
			}),
		sub("update NAME --plan P", "Change a service instance's plan or parameters", cobra.ExactArgs(1), "update", runServiceUpdate,
			func(c *cobra.Command, o *ServiceOptions) {
				c.Flags().StringVar(&o.Plan, "plan", "", "the new plan (default: the current one)")
				c.Flags().StringVar(&o.Parameters, "parameters", "", "new parameters, a JSON object")
				waitFlags(c, o)
			}),
		sub("show NAME", "Show a service instance, its last operation and its bindings", cobra.ExactArgs(1), "show", runServiceShow, nil),
		sub("list", "List a space's service instances", cobra.NoArgs, "list", runServiceList, nil),
		sub("bind INSTANCE APP", "Bind a service instance to an app (the app rolls out with VCAP_SERVICES)", cobra.ExactArgs(2), "bind", runServiceBind,
			func(c *cobra.Command, o *ServiceOptions) {
				c.Flags().StringVar(&o.Binding, "binding", "", "the binding's name (default INSTANCE-APP)")
				waitFlags(c, o)
			}),
		sub("unbind INSTANCE APP", "Delete the bindings of a service instance to an app", cobra.ExactArgs(2), "unbind", runServiceUnbind, waitFlags),
		sub("delete NAME", "Delete a service instance (the broker deprovisions it)", cobra.ExactArgs(1), "delete", runServiceDelete, waitFlags),
	)
	return cmd
}

func (o *ServiceOptions) parameters() (json.RawMessage, error) {
	if o.Parameters == "" {
		return nil, nil
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(o.Parameters), &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("--parameters %q: a JSON object, e.g. '{\"backup_every\":\"24h\"}'", o.Parameters)
	}
	return json.RawMessage(o.Parameters), nil
}

// waitInstance follows an instance's operation and reports how it ended.
func waitInstance(ctx context.Context, opts *ServiceOptions, c *paved.Client, verb string) error {
	if !opts.Wait {
		fmt.Fprintf(opts.f.Out, "service instance %s/%s: %s under way\n", opts.Space, opts.Name, verb)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	in, err := c.ServiceInstances.Wait(ctx, opts.Space, opts.Name)
	if verb == paved.OperationDelete && paved.IsNotFound(err) {
		fmt.Fprintf(opts.f.Out, "service instance %s/%s deleted\n", opts.Space, opts.Name)
		return nil
	}
	if err != nil {
		return err
	}
	if in.LastOperation.State == paved.OperationFailed {
		return fmt.Errorf("service instance %s/%s: %s failed: %s", opts.Space, opts.Name, in.LastOperation.Type, in.LastOperation.Description)
	}
	if opts.f.JSON() {
		return opts.f.PrintJSON(in)
	}
	fmt.Fprintf(opts.f.Out, "service instance %s/%s: %s %s (%s %s)\n", opts.Space, opts.Name, in.LastOperation.Type, in.LastOperation.State, in.Offering, in.Plan)
	return nil
}

func runServiceCreate(ctx context.Context, opts *ServiceOptions) error {
	params, err := opts.parameters()
	if err != nil {
		return err
	}
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	if _, err := c.ServiceInstances.Create(ctx, opts.Space, paved.ServiceInstanceSpec{Name: opts.Name, Offering: opts.Offering,
		Plan: opts.Plan, Broker: opts.Broker, Parameters: params}); err != nil {
		return err
	}
	return waitInstance(ctx, opts, c, paved.OperationCreate)
}

func runServiceUpdate(ctx context.Context, opts *ServiceOptions) error {
	params, err := opts.parameters()
	if err != nil {
		return err
	}
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	cur, err := c.ServiceInstances.Get(ctx, opts.Space, opts.Name)
	if err != nil {
		return err
	}
	spec := cur.ServiceInstanceSpec
	if opts.Plan != "" {
		spec.Plan = opts.Plan
	}
	if params != nil {
		spec.Parameters = params
	}
	if _, err := c.ServiceInstances.Update(ctx, opts.Space, spec); err != nil {
		return err
	}
	return waitInstance(ctx, opts, c, paved.OperationUpdate)
}

func runServiceShow(ctx context.Context, opts *ServiceOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	in, err := c.ServiceInstances.Get(ctx, opts.Space, opts.Name)
	if err != nil {
		return err
	}
	bs, err := c.ServiceBindings.List(ctx, opts.Space)
	if err != nil {
		return err
	}
	var mine []paved.ServiceBinding
	for _, b := range bs {
		if b.Instance == opts.Name {
			mine = append(mine, b)
		}
	}
	if opts.f.JSON() {
		return opts.f.PrintJSON(struct {
			*paved.ServiceInstance
			Bindings []paved.ServiceBinding `json:"bindings"`
		}{in, mine})
	}
	tw := tabwriter.NewWriter(opts.f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "instance:\t%s/%s\n", in.Space, in.Name)
	fmt.Fprintf(tw, "offering:\t%s (broker %s)\n", in.Offering, in.Broker)
	fmt.Fprintf(tw, "plan:\t%s\n", in.Plan)
	fmt.Fprintf(tw, "last operation:\t%s %s %s\n", in.LastOperation.Type, in.LastOperation.State, in.LastOperation.Description)
	for _, b := range mine {
		fmt.Fprintf(tw, "bound to:\tapp %s (binding %s, %s %s)\n", b.App, b.Name, b.LastOperation.Type, b.LastOperation.State)
	}
	return tw.Flush()
}

func runServiceList(ctx context.Context, opts *ServiceOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	ins, err := c.ServiceInstances.List(ctx, opts.Space)
	if err != nil {
		return err
	}
	if opts.f.JSON() {
		return opts.f.PrintJSON(ins)
	}
	tw := tabwriter.NewWriter(opts.f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tOFFERING\tPLAN\tLAST OPERATION")
	for _, in := range ins {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\n", in.Name, in.Offering, in.Plan, in.LastOperation.Type, in.LastOperation.State)
	}
	return tw.Flush()
}

func runServiceBind(ctx context.Context, opts *ServiceOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	name := opts.Binding
	if name == "" {
		name = opts.Name + "-" + opts.App
	}
	if _, err := c.ServiceBindings.Create(ctx, opts.Space, paved.ServiceBindingSpec{Name: name, Instance: opts.Name, App: opts.App}); err != nil {
		return err
	}
	if !opts.Wait {
		fmt.Fprintf(opts.f.Out, "binding %s/%s under way\n", opts.Space, name)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	b, err := c.ServiceBindings.Wait(ctx, opts.Space, name)
	if err != nil {
		return err
	}
	if b.LastOperation.State == paved.OperationFailed {
		return fmt.Errorf("binding %s/%s failed: %s", opts.Space, name, b.LastOperation.Description)
	}
	fmt.Fprintf(opts.f.Out, "%s bound to app %s as %s; the app rolls out with it in VCAP_SERVICES\n", opts.Name, opts.App, name)
	return nil
}

func runServiceUnbind(ctx context.Context, opts *ServiceOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	bs, err := c.ServiceBindings.List(ctx, opts.Space)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	n := 0
	for _, b := range bs {
		if b.Instance != opts.Name || b.App != opts.App {
			continue
		}
		if err := c.ServiceBindings.Delete(ctx, opts.Space, b.Name); err != nil {
			return err
		}
		if opts.Wait {
			if _, err := c.ServiceBindings.Wait(ctx, opts.Space, b.Name); err != nil && !paved.IsNotFound(err) {
				return err
			}
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("service instance %s is not bound to app %s in space %s", opts.Name, opts.App, opts.Space)
	}
	fmt.Fprintf(opts.f.Out, "%s unbound from app %s (%d bindings)\n", opts.Name, opts.App, n)
	return nil
}

func runServiceDelete(ctx context.Context, opts *ServiceOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	if err := c.ServiceInstances.Delete(ctx, opts.Space, opts.Name); err != nil {
		return err
	}
	return waitInstance(ctx, opts, c, paved.OperationDelete)
}
