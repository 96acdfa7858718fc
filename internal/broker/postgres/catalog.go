// Package postgres is paved's PostgreSQL service broker (paved broker
// postgres): an Open Service Broker API v2.17 broker that makes a database
// and an owner role per service instance and a login role per binding, on
// a PostgreSQL server it administers with a superuser's DSN.
//
// The broker keeps its own state (instances, bindings, operations) in a
// database of that server, paved_broker, so it can be restarted at any
// time: an operation under way when it stopped is resumed when it starts.
package postgres

import (
	"github.com/pavedroad/terraform-provider-paved/internal/osb"
)

// IDs of the catalog. They are fixed: platforms store them.
const (
	ServiceID  = "5f8b3a1e-7c2d-4e9a-b6f0-paved0postgres"
	PlanSmall  = "5f8b3a1e-7c2d-4e9a-b6f0-paved0pgsmall"
	PlanMedium = "5f8b3a1e-7c2d-4e9a-b6f0-paved0pgmedium"
)

// connectionLimits is each plan's CONNECTION LIMIT of its database.
var connectionLimits = map[string]int{PlanSmall: 10, PlanMedium: 50}

func ptr[T any](v T) *T { return &v }

// Catalog is the broker's one offering.
func Catalog() osb.Catalog {
	return osb.Catalog{Services: []osb.Service{{
		Name:        "postgresql",
		ID:          ServiceID,
		Description: "A PostgreSQL database of its own per instance, a login role per binding",
		Tags:        []string{"postgresql", "relational", "sql"},
		Bindable:    true, PlanUpdateable: true,
		InstancesRetrievable: true, BindingsRetrievable: true,
		Metadata: map[string]any{"displayName": "PostgreSQL", "providerDisplayName": "paved"},
		Plans: []osb.Plan{
			{ID: PlanSmall, Name: "small", Description: "A database with up to 10 connections", Free: ptr(true),
				Metadata: map[string]any{"connection_limit": connectionLimits[PlanSmall]}},
			{ID: PlanMedium, Name: "medium", Description: "A database with up to 50 connections", Free: ptr(true),
				Metadata: map[string]any{"connection_limit": connectionLimits[PlanMedium]}},
		},
	}}}
}
